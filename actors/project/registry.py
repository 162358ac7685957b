"""A project's durable registry (project.sqlite), written only by its ProjectActor: task ids, branch
reservations, idempotency keys, each task's host, and the live-agent slots (actors/workspace/agent_slots.py).
"""

import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import Any, NamedTuple

from actors import db
from actors.migrations import Schema, add_column, chain, create
from actors.runtime import hosts
from schemas.workspace_messages import CreateTask

CREATE_V1 = """
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL, title TEXT NOT NULL,
  branch TEXT NOT NULL, branch_given INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS branches (branch TEXT PRIMARY KEY, task_id TEXT NOT NULL);
"""
# A task's host: '' while the cluster places it; a task never moves once placed (sticky).
SCHEMA = Schema(
    "project",
    (chain(create(CREATE_V1), add_column("tasks", "host", f"TEXT NOT NULL DEFAULT '{hosts.LEADER}'")),),
)
IDEMPOTENCY_TTL_S = 24 * 3600


def new_task_id() -> str:
    """22 hex characters: milliseconds first, so ids sort by creation time (newest-first lists)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


def derive_title(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "task")
    return first if len(first) <= 60 else first[:57].rstrip() + "..."


def derive_branch(title: str, task_id: str, suffix: int = 6) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "task"
    return f"crucible/{slug}-{task_id[-suffix:]}"


class Reserved(NamedTuple):
    task_id: str
    title: str
    branch: str
    branch_given: bool


class Refusal(NamedTuple):
    status: int
    code: str
    message: str
    details: Any


class TaskRegistry:
    def __init__(self, path: Path, synchronous: str) -> None:
        self.conn = db.connect(path, SCHEMA, synchronous)

    def reserve(self, msg: CreateTask, placed: str) -> Reserved | Refusal:
        """A new task's id and branch, durable before anything else happens; an idempotency key seen
        within a day gives back its task (Initialize is idempotent, and re-creates a record a crash lost)."""
        body = msg.body
        body_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        if msg.idempotency_key:
            row = self.conn.execute(
                "SELECT * FROM tasks WHERE idempotency_key = ?", (msg.idempotency_key,)
            ).fetchone()
            if row and time.time() - db.parse(row["created_at"]) > IDEMPOTENCY_TTL_S:
                self.conn.execute("UPDATE tasks SET idempotency_key = NULL WHERE id = ?", (row["id"],))
                row = None
            if row and row["body_hash"] != body_hash:
                message = "this Idempotency-Key was used with a different body"
                return Refusal(409, "idempotency_conflict", message, {"task_id": row["id"]})
            if row:
                return Reserved(row["id"], row["title"], row["branch"], bool(row["branch_given"]))
        task_id = new_task_id()
        title = body.title or derive_title(body.prompt)
        branch = body.branch or self._free_branch(title, task_id)
        holder = self._holder(branch)
        if holder:
            message = f"branch {branch!r} belongs to another task"
            return Refusal(409, "branch_taken", message, {"task_id": holder})
        row = (
            task_id,
            msg.idempotency_key,
            body_hash,
            title,
            branch,
            int(bool(body.branch)),
            db.utcnow(),
            placed,
        )
        with db.transaction(self.conn) as c:
            c.execute("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            c.execute("INSERT INTO branches VALUES (?, ?)", (branch, task_id))
        return Reserved(task_id, title, branch, bool(body.branch))

    def _free_branch(self, title: str, task_id: str) -> str:
        """The id's last 6 characters; more where two tasks of one title share them (24 random bits: a
        clash in ~3% of 1,000 tasks so named), up to the whole id, which no other task has."""
        for suffix in (6, 10):
            branch = derive_branch(title, task_id, suffix)
            if self._holder(branch) is None:
                return branch
        return derive_branch(title, task_id, len(task_id))

    def _holder(self, branch: str) -> str | None:
        row = self.conn.execute("SELECT task_id FROM branches WHERE branch = ?", (branch,)).fetchone()
        return None if row is None else str(row[0])

    def place(self, task_id: str, host: str) -> None:
        with db.transaction(self.conn) as c:
            c.execute("UPDATE tasks SET host = ? WHERE id = ?", (host, task_id))

    def host_of(self, task_id: str) -> str | None:
        row = self.conn.execute("SELECT host FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return str(row[0]) if row else None

    def on_workers(self) -> bool:
        """Whether any task here is placed on a worker, or being placed."""
        sql = "SELECT 1 FROM tasks WHERE host != ? LIMIT 1"
        return self.conn.execute(sql, (hosts.LEADER,)).fetchone() is not None

    def tasks_on(self, host: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM tasks WHERE host = ? ORDER BY id", (host,))]

    def release_branch(self, task_id: str, branch: str) -> None:
        """Killed: the reservation goes now."""
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM branches WHERE branch = ? AND task_id = ?", (branch, task_id))

    def remove(self, task_id: str) -> None:
        """Deleted: nothing of the task stays, its idempotency key included (a replay makes a new task)."""
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM branches WHERE task_id = ?", (task_id,))
            c.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
