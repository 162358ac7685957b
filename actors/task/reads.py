"""Reading a task database: the record (row and steps) and the history, read alike by its writer
(actors/task/store.py), the web process's reader (backend/reader.py) and, read-only, a host's mirror actor.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

SELECT_TASK = "SELECT * FROM task"
SELECT_STEPS = "SELECT * FROM steps ORDER BY ord"
SELECT_EVENTS = "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


def read_rows(conn: sqlite3.Connection) -> tuple[sqlite3.Row | None, list[sqlite3.Row]]:
    return conn.execute(SELECT_TASK).fetchone(), conn.execute(SELECT_STEPS).fetchall()


def record_from_rows(task: sqlite3.Row | dict[str, Any], steps: list[Any]) -> dict[str, Any]:
    """The API's task record from the stored rows (shared with the web process's reader)."""
    sandbox = json.loads(task["sandbox"]) if task["sandbox"] else None
    return {
        "id": task["id"],
        "workspace": task["workspace"],
        "project": task["project"],
        "title": task["title"],
        "branch": task["branch"],
        "prompt": task["prompt"],
        "agent": task["agent"],
        "provider": task["provider"],
        "status": task["status"],
        "status_message": task["status_message"],
        "sandbox": sandbox and {"id": sandbox["id"], "provider": task["provider"], "path": sandbox["path"]},
        "agent_endpoint": task["agent_endpoint"],
        "session_id": task["session_id"],
        "error": json.loads(task["error"]) if task["error"] else None,
        "steps": [
            {
                "name": s["name"],
                "status": s["status"],
                "attempts": s["attempts"],
                "started_at": s["started_at"],
                "finished_at": s["finished_at"],
                "error": s["error"],
            }
            for s in steps
        ],
        "created_at": task["created_at"],
        "updated_at": task["updated_at"],
        "seq": task["seq"],
    }


def read_on_disk(path: Path, after: int, limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Read-only, by an actor that is not the task's writer (a worker's mirror actor, as the web process
    reads the leader's): the record and up to `limit` events after `after`, from one snapshot. None: no task
    there (deleted, or a prepared database its create never committed to)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("BEGIN")
        task, steps = read_rows(conn)
        events = conn.execute(SELECT_EVENTS, (after, limit)).fetchall() if limit else []
    except sqlite3.OperationalError:
        return None  # no tables yet
    finally:
        conn.close()
    return (record_from_rows(task, steps), [event_from_row(e) for e in events]) if task else None


def summary_from_record(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "project", "title", "branch", "status", "status_message", "updated_at", "seq")
    return {k: record[k] for k in keys}


def event_from_row(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "kind": row["kind"],
        "status": row["status"],
        "at": row["at"],
        "data": json.loads(row["data"]),
    }
