"""The task database: record, steps and history, written only by the task's own actor.

Every state change is one transaction that also appends its history event, so the record, the step
table and the event log can never disagree, whatever moment a crash picks.
"""

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actors import db
from actors.migrations import Schema, create
from actors.runtime import memory
from actors.task.reads import read_rows, record_from_rows
from schemas.status import AT_REST, PROVISION_STEPS, STATUS_MESSAGE, EventKind, TaskStatus
from schemas.task_messages import Initialize

CREATE_V1 = """
CREATE TABLE IF NOT EXISTS task (
  id TEXT PRIMARY KEY, workspace TEXT NOT NULL, project TEXT NOT NULL, title TEXT NOT NULL,
  branch TEXT NOT NULL, branch_given INTEGER NOT NULL, prompt TEXT NOT NULL, agent TEXT NOT NULL,
  provider TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT NOT NULL, sandbox TEXT,
  agent_endpoint TEXT, agent_pid INTEGER, session_id TEXT, prompt_sent_at TEXT, error TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  name TEXT PRIMARY KEY, ord INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
  started_at TEXT, finished_at TEXT, deadline_at TEXT, next_at TEXT, error TEXT, result TEXT
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL
);
"""
# A follow-up prompt: committed (with its `session.prompt` event) before it is sent, sent at most once.
CREATE_V2 = """
CREATE TABLE IF NOT EXISTS prompts (
  message_id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL, text TEXT NOT NULL,
  created_at TEXT NOT NULL, sent_at TEXT
);
"""
SCHEMA = Schema("task", (create(CREATE_V1), create(CREATE_V2)))

WAL_SUFFIXES = ("-wal", "-shm")  # beside a database in WAL mode: its log and its shared-memory index

# Columns a finished step may set on the task row.
RECORD_COLUMNS = frozenset({"title", "branch", "sandbox", "agent_endpoint", "agent_pid", "session_id"})


def task_db_path(data: Path, task_id: str) -> Path:
    return data / "tasks" / f"{task_id}.sqlite"


def record_updates(step: TaskStatus, result: dict[str, Any]) -> dict[str, Any]:
    """The record's fields a finished step sets (RECORD_COLUMNS)."""
    if step is TaskStatus.init_ensure_name:
        return {"title": result["title"], "branch": result["branch"]}
    if step is TaskStatus.init_create_sandbox:
        return {"sandbox": {"id": result["id"], "path": result["path"]}}
    if step is TaskStatus.init_ensure_agent:
        return {"agent_endpoint": result["endpoint"], "agent_pid": result["pid"]}
    if step is TaskStatus.init_create_session:
        return {"session_id": result["session_id"]}
    return {}


def initial_fields(msg: Initialize, workspace: str, project: str) -> dict[str, Any]:
    """The task row a create writes (status, times and seq are the store's)."""
    return {
        "id": msg.task_id,
        "workspace": workspace,
        "project": project,
        "title": msg.title,
        "branch": msg.branch,
        "branch_given": int(msg.branch_given),
        "prompt": msg.prompt,
        "agent": msg.agent.value,
        "provider": msg.provider.value,
    }


def database_files(path: Path) -> tuple[Path, ...]:
    """A task database, its WAL and shared-memory index, and its lock."""
    return (path, *(Path(f"{path}{suffix}") for suffix in WAL_SUFFIXES), path.with_suffix(".lock"))


def remove_task_files(data: Path, task_id: str) -> None:
    """Delete: the database (and its WAL companions), the lock and the agent's log."""
    for leftover in database_files(task_db_path(data, task_id)):
        leftover.unlink(missing_ok=True)
    (data / "logs" / "agents" / f"{task_id}.log").unlink(missing_ok=True)


def prepare_database(path: Path) -> None:
    """An empty task database with its schema, closed (so no -wal file is left).
    Its bytes are made once per process: building each with SQLite took ~4 ms (an fsync at close).
    Whole or absent: written beside, then renamed, so a full disk cannot leave half a database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    try:
        partial.write_bytes(empty_database(path.parent))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@functools.cache
def empty_database(directory: Path) -> bytes:
    """The bytes of an empty task database (WAL mode, schema in place), built once per process in
    `directory` (a scratch file there)."""
    scratch = directory / f"empty-{os.getpid()}.sqlite"
    scratch.unlink(missing_ok=True)
    db.connect(scratch, SCHEMA).close()
    try:
        return scratch.read_bytes()
    finally:
        scratch.unlink()


def _close_and_release(conn: sqlite3.Connection) -> None:
    conn.close()
    memory.release_soon()  # what it held goes back to the system, not only to malloc


@functools.cache
def _closer() -> ThreadPoolExecutor:
    """Closing the last connection to a database checkpoints its WAL into it and syncs the file:
    2.6 ms each (measured), which would hold up every actor of the runner. Off its thread, the close
    only races a later connection of the same writer, which SQLite's own locks order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-close")


class TaskStore:
    """The writer's view. Thread-safe: step work in the actor's worker thread records checkpoints too."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self._path, self._synchronous = path, synchronous
        self._db: sqlite3.Connection | None = db.connect(path, SCHEMA, synchronous)
        self._lock = threading.RLock()
        self._appended: list[dict[str, Any]] = []  # events of the transaction in progress
        self._outbox: list[dict[str, Any]] = []  # committed events not yet published
        self._rows: tuple[sqlite3.Row | None, list[sqlite3.Row]] | None = None  # as of the last commit

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; the events it appends reach the outbox only once it has committed."""
        with self._lock:
            self._appended = []
            try:
                with db.transaction(self._conn) as c:
                    yield c
            finally:
                self._rows = None  # changed, or read mid-transaction and maybe rolled back since
            self._outbox.extend(self._appended)

    def take_events(self) -> list[dict[str, Any]]:
        """Committed events since the last call, in seq order, for the actor to publish."""
        with self._lock:
            events, self._outbox = self._outbox, []
            return events

    @property
    def _conn(self) -> sqlite3.Connection:
        """Opened again at its first use after rest()."""
        if self._db is None:
            self._db = db.connect(self._path, SCHEMA, self._synchronous)
        return self._db

    def rest(self) -> None:
        """The task is at rest: its connection goes (SQLite holds 50-140 KiB per connection, measured,
        the less with db.lean_page_cache: 1,000 tasks at rest held 240 MiB more) and its next use opens
        it again. Safe because this store is the database's only writer: what it read before (`_rows`)
        is still true. The close itself happens on a thread of its own (_closer)."""
        if (conn := self._let_go()) is not None:
            _closer().submit(_close_and_release, conn)

    def close(self) -> None:
        """Closed before this returns (the task's files may be removed next)."""
        if (conn := self._let_go()) is not None:
            conn.close()

    def _let_go(self) -> sqlite3.Connection | None:
        """The connection, no longer this store's (its next use opens another); None if there is none
        or a transaction holds it."""
        with self._lock:
            conn = self._db
            if conn is None or conn.in_transaction:
                return None
            self._db = None
            return conn

    def exists(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM task").fetchone() is not None

    def create(self, fields: dict[str, Any], data: dict[str, Any]) -> bool:
        """The initialize transaction: record, pending steps and `task.created`. False if it existed.

        Under NORMAL it skips the fsyncs of a new WAL's header and of the directory that gained the
        file (2-3 ms of every create): NORMAL promises durability across a process crash, which needs
        no fsync, and no NORMAL commit is synced against power loss anyway. FULL keeps them."""
        lazy = self._synchronous == "NORMAL"
        with self._lock:
            self._conn.execute(f"PRAGMA synchronous={'OFF' if lazy else self._synchronous}")
            try:
                return self._create(fields, data)
            finally:
                self._conn.execute(f"PRAGMA synchronous={self._synchronous}")

    def _create(self, fields: dict[str, Any], data: dict[str, Any]) -> bool:
        with self._write() as c:
            if c.execute("SELECT 1 FROM task").fetchone():
                return False
            now = db.utcnow()
            row = {
                **fields,
                "status": TaskStatus.init_enqueue_provision,
                "status_message": STATUS_MESSAGE[TaskStatus.init_enqueue_provision],
                "created_at": now,
                "updated_at": now,
                "seq": 0,
            }
            cols = ", ".join(row)
            c.execute(f"INSERT INTO task ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            c.executemany(
                "INSERT INTO steps (name, ord, status, attempts) VALUES (?, ?, 'pending', 0)",
                [(step.value, i) for i, step in enumerate(PROVISION_STEPS)],
            )
            self._append(c, EventKind.created, TaskStatus.init_enqueue_provision, data, now)
        return True

    def record(self) -> dict[str, Any]:
        with self._lock:
            task, steps = self._committed()
        assert task is not None, "read before the task's create"
        return record_from_rows(task, steps)

    def step(self, name: TaskStatus) -> sqlite3.Row:
        with self._lock:
            for row in self._committed()[1]:
                if row["name"] == name:
                    return row
        raise KeyError(name)

    def _committed(self) -> tuple[sqlite3.Row | None, list[sqlite3.Row]]:
        """The task's row and its steps', read again only after a write: a task's turn asks for them
        several times (a step's outcome, ~20 reads), and this store is the database's only writer."""
        if self._rows is None or (self._db is not None and self._db.in_transaction):  # mid-write
            self._rows = read_rows(self._conn)
        return self._rows

    def has_event(self, kind: EventKind) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM events WHERE kind = ? LIMIT 1", (kind.value,)).fetchone()
            return row is not None

    def prompt_sent_at(self) -> str | None:
        with self._lock:
            value: str | None = self._conn.execute("SELECT prompt_sent_at FROM task").fetchone()[0]
            return value

    def enter(self, step: TaskStatus, attempt: int, deadline_at: str) -> None:
        """A step starts (or resumes): `task.status` and the step's new attempt, together."""
        with self._write() as c:
            now = db.utcnow()
            c.execute(
                "UPDATE steps SET status='started', attempts=?, started_at=coalesce(started_at, ?),"
                " deadline_at=?, next_at=NULL, error=NULL WHERE name=?",
                (attempt, now, deadline_at, step),
            )
            self._set_status(c, step, STATUS_MESSAGE[step], now)
            self._append(c, EventKind.status, step, {}, now)

    def begin_attempt(self, step: TaskStatus, attempt: int) -> None:
        """A retry after backoff: a new attempt of the same step; no event (the retry event said it)."""
        with self._write() as c:
            c.execute(
                "UPDATE steps SET status='started', attempts=?, next_at=NULL WHERE name=?", (attempt, step)
            )

    def finish(
        self, step: TaskStatus, kind: EventKind | None, result: dict[str, Any], updates: dict[str, Any]
    ) -> None:
        """A step is done: its result, the record's new fields and its result event (if it has one; the
        steps of archive and kill have none but the last), atomically."""
        unknown = set(updates) - RECORD_COLUMNS
        if unknown:
            raise ValueError(f"not record columns: {sorted(unknown)}")
        with self._write() as c:
            now = db.utcnow()
            c.execute(
                "UPDATE steps SET status='done', finished_at=?, result=?, error=NULL, next_at=NULL"
                " WHERE name=?",
                (now, json.dumps(result), step),
            )
            for column, value in updates.items():
                stored = json.dumps(value) if isinstance(value, dict) else value
                c.execute(f"UPDATE task SET {column} = ?", (stored,))
            if step in AT_REST:
                self._set_status(c, step, STATUS_MESSAGE[step], now)
            if kind is not None:
                self._append(c, kind, step, result, now)

    def replace_remaining(self, steps: tuple[TaskStatus, ...]) -> None:
        """Archive or kill: every step not done is cancelled and these follow, pending (no event: the
        first of them emits `task.status` when entered). Repeating a sequence starts it afresh."""
        with self._write() as c:
            c.execute("UPDATE steps SET status='cancelled', next_at=NULL WHERE status != 'done'")
            last = c.execute("SELECT max(ord) FROM steps").fetchone()[0]
            c.executemany(
                "INSERT INTO steps (name, ord, status, attempts) VALUES (?, ?, 'pending', 0)"
                " ON CONFLICT (name) DO UPDATE SET ord=excluded.ord, status='pending', attempts=0,"
                " started_at=NULL, finished_at=NULL, deadline_at=NULL, next_at=NULL, error=NULL, result=NULL",
                [(step.value, last + 1 + i) for i, step in enumerate(steps)],
            )
            c.execute("UPDATE task SET error = NULL")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction of the caller's (actors/task/conversation.py), events appended with append."""
        with self._write() as c:
            yield c

    def append(self, c: sqlite3.Connection, kind: EventKind, *data: dict[str, Any]) -> None:
        """Events of one kind (one per `data`) at the task's current status, in the caller's transaction."""
        status, now = TaskStatus(c.execute("SELECT status FROM task").fetchone()[0]), db.utcnow()
        for each in data:
            self._append(c, kind, status, each, now)

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def mark_prompt_sent(self) -> None:
        with self._write() as c:
            c.execute("UPDATE task SET prompt_sent_at = ?", (db.utcnow(),))

    def schedule_retry(self, step: TaskStatus, attempt: int, error: str, next_at: str) -> None:
        with self._write() as c:
            now = db.utcnow()
            c.execute(
                "UPDATE steps SET status='retrying', error=?, next_at=? WHERE name=?", (error, next_at, step)
            )
            c.execute("UPDATE task SET status_message = ?, updated_at = ?", (f"retrying: {error}", now))
            data = {"attempt": attempt, "error": error, "next_at": next_at, "source": "backoff"}
            self._append(c, EventKind.retry, step, data, now)

    def wait_for_slot(self) -> bool:
        """Created at the cap of live task actors: the wait is visible (`task.status` with a
        message). False if the task had already started (a replayed create)."""
        with self._write() as c:
            if c.execute("SELECT count(*) FROM steps WHERE status != 'pending'").fetchone()[0]:
                return False
            message = "waiting for a provisioning slot (the cap of live task actors)"
            self._waiting(c, TaskStatus.init_enqueue_provision, {"waiting": "slot"}, message)
        return True

    def wait_for_agent(self, ahead: int) -> None:
        """At the workspace's cap of live agents: visible, like any wait."""
        with self._write() as c:
            message = f"waiting for an agent slot (the workspace's cap of live agents; {ahead} ahead)"
            self._waiting(c, TaskStatus.init_ensure_agent, {"waiting": "agent", "ahead": ahead}, message)

    def _waiting(self, c: sqlite3.Connection, status: TaskStatus, data: dict[str, Any], message: str) -> None:
        c.execute("UPDATE task SET status_message = ?", (message,))
        self._append(c, EventKind.status, status, data, db.utcnow())

    def user_retry(self, step: TaskStatus) -> None:
        """A user's retry of the step that failed: a fresh attempt budget and deadline, the error gone."""
        with self._write() as c:
            now = db.utcnow()
            c.execute(
                "UPDATE steps SET status='pending', attempts=0, finished_at=NULL, deadline_at=NULL,"
                " next_at=NULL, error=NULL WHERE name=?",
                (step,),
            )
            c.execute("UPDATE task SET error = NULL")
            self._set_status(c, step, "retry requested", now)
            self._append(c, EventKind.retry, step, {"source": "user", "step": step.value}, now)

    def fail(self, step: TaskStatus, attempts: int, message: str) -> None:
        """A step gave up: the task goes to `error` with `task.error {step, message}`."""
        with self._write() as c:
            now = db.utcnow()
            c.execute(
                "UPDATE steps SET status='failed', finished_at=?, error=?, next_at=NULL WHERE name=?",
                (now, message, step),
            )
            error = {"step": step.value, "message": message, "attempts": attempts, "at": now}
            c.execute("UPDATE task SET error = ?", (json.dumps(error),))
            self._set_status(c, TaskStatus.error, message, now)
            self._append(c, EventKind.error, TaskStatus.error, {"step": step.value, "message": message}, now)

    def _set_status(self, c: sqlite3.Connection, status: TaskStatus, message: str, now: str) -> None:
        c.execute("UPDATE task SET status = ?, status_message = ?, updated_at = ?", (status, message, now))

    def _append(
        self, c: sqlite3.Connection, kind: EventKind, status: TaskStatus, data: dict[str, Any], at: str
    ) -> None:
        seq = c.execute("SELECT seq FROM task").fetchone()[0] + 1
        c.execute(
            "INSERT INTO events (seq, kind, status, at, data) VALUES (?, ?, ?, ?, ?)",
            (seq, kind.value, status.value, at, json.dumps(data)),
        )
        self._appended.append(
            {"seq": seq, "kind": kind.value, "status": status.value, "at": at, "data": data}
        )
        c.execute("UPDATE task SET seq = ?, updated_at = ?", (seq, at))
