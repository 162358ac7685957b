"""The agent's conversation after `running`, in the task's database: what the agent said (each message
of its ACP stream, a `session.update` event) and what it was told (each follow-up prompt, a
`session.prompt` event and a row of `prompts`). Written by the task actor only, like the rest of it.
"""

import hashlib
import json
import secrets
import time
from typing import Any

from actors import db
from actors.task.store import TaskStore
from schemas.status import EventKind

MAX_MESSAGE_BYTES = 64 * 1024  # a message beyond this is stored truncated, with a marker


def agent_run(store: TaskStore) -> int:
    """Which start of the agent this is: its ACP ids count from 1 again at each (one `task.agent` each)."""
    rows = store.read("SELECT count(*) FROM events WHERE kind = ?", (EventKind.agent.value,))
    return int(rows[0][0])


def last_heard(store: TaskStore, run: int) -> int:
    """The last ACP event id recorded from this run of the agent (0: none)."""
    sql = (
        "SELECT max(json_extract(data, '$.acp_id')) FROM events"
        " WHERE kind = ? AND json_extract(data, '$.agent_run') = ?"
    )
    rows = store.read(sql, (EventKind.session_update.value, run))
    return int(rows[0][0] or 0)


def record_heard(store: TaskStore, run: int, burst: list[tuple[int, Any]]) -> None:
    """A burst read from the stream, in one transaction: one commit and one push per burst, never per
    chunk. The stream skips what was recorded (it resumes after the last id), so nothing is twice."""
    heard = [{"agent_run": run, "acp_id": acp_id, **bounded(message)} for acp_id, message in burst]
    with store.write() as c:
        store.append(c, EventKind.session_update, *heard)


def bounded(message: Any) -> dict[str, Any]:
    """The message as received, or, past MAX_MESSAGE_BYTES, its first bytes as text and a marker."""
    raw = json.dumps(message).encode()
    if len(raw) <= MAX_MESSAGE_BYTES:
        return {"message": message}
    head = raw[:MAX_MESSAGE_BYTES].decode(errors="ignore")
    return {"message": None, "truncated": {"bytes": len(raw), "head": head}}


class Conflict(Exception):
    """The idempotency key was used with another text."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def add_prompt(store: TaskStore, text: str, key: str | None) -> tuple[str, bool]:
    """A follow-up, durable with its `session.prompt` event before anyone hears of it: (its message
    id, whether it is new). The same key and text give back the same message; another text, Conflict."""
    body_hash = hashlib.sha256(text.encode()).hexdigest()
    with store.write() as c:
        if key is not None:
            sql = "SELECT message_id, body_hash FROM prompts WHERE idempotency_key = ?"
            found = c.execute(sql, (key,)).fetchone()
            if found is not None and found["body_hash"] != body_hash:
                raise Conflict(found["message_id"])
            if found is not None:
                return found["message_id"], False
        message_id = f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"
        values = (message_id, key, body_hash, text, db.utcnow())
        c.execute("INSERT INTO prompts VALUES (?, ?, ?, ?, ?, NULL)", values)
        store.append(c, EventKind.session_prompt, {"message_id": message_id, "text": text})
    return message_id, True


def unsent(store: TaskStore) -> list[tuple[str, str]]:
    """(message id, text) of the prompts not yet sent, oldest first."""
    rows = store.read("SELECT message_id, text FROM prompts WHERE sent_at IS NULL ORDER BY message_id")
    return [(r["message_id"], r["text"]) for r in rows]


def mark_sent(store: TaskStore, message_id: str) -> None:
    """Before the send: a crash after this never sends it again (at most once)."""
    with store.write() as c:
        c.execute("UPDATE prompts SET sent_at = ? WHERE message_id = ?", (db.utcnow(), message_id))
