"""The workspace database: its schema, and the task projection every list and feed reads. Written only
by the WorkspaceActor (actors/workspace/actor.py); read by the web process (backend/reader.py).

The workspace feed is keyed by cursor: every change to the projection takes the next one, a task's row
keeps its latest, and a deleted task's row leaves a cursor of its own in `deleted` (else that cursor
would be handed out again, and a subscriber past it would miss the change that took it).
"""

import sqlite3
from pathlib import Path
from typing import Any

from actors import db
from actors.migrations import Schema, add_column, chain, create
from actors.runtime import hosts
from schemas.api import TaskSummary

CREATE_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, repo TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, project TEXT NOT NULL, title TEXT NOT NULL, branch TEXT NOT NULL,
  status TEXT NOT NULL, status_message TEXT NOT NULL, updated_at TEXT NOT NULL, seq INTEGER NOT NULL,
  cursor INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_project ON tasks (project, id);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, id);
CREATE INDEX IF NOT EXISTS tasks_by_cursor ON tasks (cursor);
CREATE TABLE IF NOT EXISTS agents (task_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS deleted (task_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deleted_by_cursor ON deleted (cursor);
"""
SCHEMA = Schema(
    "workspace",
    (
        chain(
            create(CREATE_V1),
            add_column("tasks", "host", f"TEXT NOT NULL DEFAULT '{hosts.LEADER}'"),
            add_column("tasks", "host_down", "TEXT NOT NULL DEFAULT ''"),  # since when
        ),
    ),
)
MAX_CURSOR = (  # the last cursor handed out: a task's latest change, or a deletion
    "SELECT max(coalesce((SELECT max(cursor) FROM tasks), 0), coalesce((SELECT max(cursor) FROM deleted), 0))"
)

COLUMNS = (
    "id",
    "project",
    "title",
    "branch",
    "status",
    "status_message",
    "updated_at",
    "seq",
    "host",
    "cursor",
)


News = tuple[int, dict[str, Any]]  # (cursor, frame): a change for the workspace feed


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """The workspace database, its older versions brought up to date."""
    return db.connect(path, SCHEMA, synchronous)


def next_cursor(c: sqlite3.Connection) -> int:
    """The workspace feed's next position: every change to the projection takes one."""
    return int(c.execute(MAX_CURSOR).fetchone()[0]) + 1


def task_frame(cursor: int, summary: dict[str, Any]) -> dict[str, Any]:
    """The feed's frame for a task changed (live from the hub, or replayed by the reader)."""
    return {"type": "task", "cursor": cursor, "task": summary}


def deleted_frame(cursor: int, task_id: str) -> dict[str, Any]:
    return {"type": "deleted", "cursor": cursor, "task_id": task_id}


def summary_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A projection row as clients see it (also the web's reader's view: backend/reader.py)."""
    return hosts.stranded({k: row[k] for k in COLUMNS[:-1]}, row["host_down"])


def upsert(conn: sqlite3.Connection, summary: TaskSummary) -> News | None:
    """Upsert one task; a change takes the next cursor, and is news for the workspace feed. Older news
    (a lower seq) changes nothing; any news means its host is reachable."""
    row = summary.model_dump(mode="json")
    with db.transaction(conn) as c:
        cursor = next_cursor(c)
        changed = c.execute(
            f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            " ON CONFLICT (id) DO UPDATE SET"
            " title=excluded.title, branch=excluded.branch, status=excluded.status,"
            " status_message=excluded.status_message, updated_at=excluded.updated_at,"
            " seq=excluded.seq, cursor=excluded.cursor, host=excluded.host, host_down=''"
            " WHERE excluded.seq > tasks.seq",
            [*(row[k] for k in COLUMNS[:-1]), cursor],
        ).rowcount
    return (cursor, task_frame(cursor, row)) if changed else None


def delete(conn: sqlite3.Connection, task_ids: list[str]) -> list[News]:
    """The tasks leave the projection; each deletion takes the next cursor (kept in `deleted`)."""
    news = []
    with db.transaction(conn) as c:
        cursor = next_cursor(c)  # read once: within the transaction, only this loop takes cursors
        for task_id in task_ids:
            if c.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount:
                c.execute("INSERT OR REPLACE INTO deleted VALUES (?, ?)", (task_id, cursor))
                news.append((cursor, deleted_frame(cursor, task_id)))
                cursor += 1
    return news


def mark_host(conn: sqlite3.Connection, task_ids: list[str], down_since: str) -> list[News]:
    """A worker left (down_since) or rejoined (""): each of its tasks whose row changes takes the next
    cursor, so feeds show the change (and its undoing)."""
    news = []
    with db.transaction(conn) as c:
        cursor = next_cursor(c)  # read once, as in delete
        for task_id in task_ids:
            sql = "UPDATE tasks SET host_down = ?, cursor = ? WHERE id = ? AND host_down != ?"
            if c.execute(sql, (down_since, cursor, task_id, down_since)).rowcount:
                row = c.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
                news.append((cursor, task_frame(cursor, summary_from_row(row))))
                cursor += 1
    return news
