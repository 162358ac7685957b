"""The start-up scan: the projection says which tasks to resume, without opening every task database,
but a task database that moved on after its projection row (a crash in between) is read and wins."""

import os
import sqlite3
from pathlib import Path

from actors import db
from actors.runtime.hosts import LEADER
from actors.task.store import TaskStore, task_db_path
from actors.workspace.projection import SCHEMA
from backend.reader import Reader
from schemas.status import KILL_STEPS, TaskStatus

FIELDS = {"workspace": "w", "project": "p", "title": "t", "branch": "b", "branch_given": 0}
FIELDS |= {"prompt": "x", "agent": "mock", "provider": "sim"}


def project_row(data: Path, task_id: str, status: str, updated_at: str, host: str = LEADER) -> None:
    conn = db.connect(data / "workspaces" / "w" / "workspace.sqlite", SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (db.utcnow(),))
    columns = "id, project, title, branch, status, status_message, updated_at, seq, cursor, host"
    values = (task_id, status, updated_at, host)
    conn.execute(f"INSERT INTO tasks ({columns}) VALUES (?, 'p', 't', 'b', ?, '', ?, 1, 1, ?)", values)
    conn.close()


def make_task(data: Path, task_id: str, killing: bool) -> None:
    store = TaskStore(task_db_path(data, task_id), "NORMAL")
    store.create({"id": task_id, **FIELDS}, {})
    if killing:
        store.replace_remaining(KILL_STEPS)
        store.enter(TaskStatus.kill_destroy_sandbox, 1, "2099-01-01T00:00:00.000Z")
    store.close()


async def test_a_task_shown_at_rest_whose_database_moved_on_is_resumed(tmp_path: Path) -> None:
    long_ago = "2020-01-01T00:00:00.000Z"
    make_task(tmp_path, "a" * 22, killing=True)  # killed after its last projection: still at rest there
    project_row(tmp_path, "a" * 22, "running", long_ago)
    make_task(tmp_path, "b" * 22, killing=False)
    project_row(tmp_path, "b" * 22, "running", db.utcnow())  # at rest, and nothing newer on disk
    found = await Reader(tmp_path).unfinished()
    assert found == {"a" * 22: ("w", "p")}


async def test_a_wal_left_by_a_dead_writer_makes_the_task_read(tmp_path: Path) -> None:
    make_task(tmp_path, "c" * 22, killing=True)
    project_row(tmp_path, "c" * 22, "running", db.utcnow())  # the row looks fresh
    wal = Path(f"{task_db_path(tmp_path, 'c' * 22)}-wal")
    wal.write_bytes(b"")  # as a kill -9 leaves it
    os.utime(wal)
    assert await Reader(tmp_path).unfinished() == {"c" * 22: ("w", "p")}


async def test_the_leaders_revive_check_lists_only_the_running_tasks_it_holds(tmp_path: Path) -> None:
    """Start-up revives dead agents of running tasks here (by project); a worker's are its own to check."""
    project_row(tmp_path, "d" * 22, "running", db.utcnow())
    project_row(tmp_path, "e" * 22, "running", db.utcnow(), host="w1")
    project_row(tmp_path, "f" * 22, "init_create_sandbox", db.utcnow())
    assert await Reader(tmp_path).running("w") == {"d" * 22: "p"}


async def test_a_workspace_whose_schema_is_not_yet_committed_is_not_listed(tmp_path: Path) -> None:
    """A list racing a create sees the file before its tables; it answers without it, never a 500."""
    path = tmp_path / "workspaces" / "new" / "workspace.sqlite"
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    project_row(tmp_path, "g" * 22, "running", db.utcnow())
    assert [w["name"] for w in await Reader(tmp_path).workspaces()] == ["w"]
