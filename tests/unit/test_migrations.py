"""Schema versions: every database says its version, an older one is brought forward when its writer
opens it (in one transaction, harmlessly twice), and a newer one is refused."""

import sqlite3
from pathlib import Path

import pytest

from actors import db, upgrades
from actors.cluster import actor as cluster
from actors.migrations import Schema, SchemaTooNew, create, stored_version, user_version
from actors.project import registry
from actors.task import store as task_store
from actors.workspace import projection

KINDS = [task_store.SCHEMA, projection.SCHEMA, registry.SCHEMA, cluster.SCHEMA]


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


@pytest.mark.parametrize("schema", KINDS, ids=lambda s: s.kind)
def test_a_new_database_has_its_kinds_version(tmp_path: Path, schema: Schema) -> None:
    conn = db.connect(tmp_path / "new.sqlite", schema)
    assert schema.version >= 1
    assert user_version(conn) == schema.version


def old_workspace_database(path: Path) -> None:
    """The workspace database as the first releases made it: no version, no `host` columns."""
    conn = sqlite3.connect(path)
    conn.executescript(projection.CREATE_V1)
    conn.execute("INSERT INTO tasks VALUES ('t1', 'p', 'title', 'b', 'running', '', 'now', 6, 1)")
    conn.commit()
    conn.close()


def test_an_unversioned_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "workspace.sqlite"
    old_workspace_database(path)
    conn = projection.connect(path, "NORMAL")
    assert user_version(conn) == projection.SCHEMA.version
    assert {"host", "host_down"} <= columns(conn, "tasks")
    rows = [tuple(r) for r in conn.execute("SELECT id, status, seq, host FROM tasks")]
    assert rows == [("t1", "running", 6, "leader")]


def test_opening_a_current_database_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "workspace.sqlite"
    old_workspace_database(path)
    projection.connect(path, "NORMAL").close()
    first = path.read_bytes()
    projection.connect(path, "NORMAL").close()
    assert path.read_bytes() == first


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    db.connect(path, Schema("x", (create("CREATE TABLE IF NOT EXISTS a (x)"),))).close()

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE b (x)")
        raise RuntimeError("crash in the middle of a migration")

    with pytest.raises(RuntimeError):
        db.connect(path, Schema("x", (create("CREATE TABLE IF NOT EXISTS a (x)"), half_done)))
    conn = sqlite3.connect(path)
    assert user_version(conn) == 1
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["a"]


def test_a_database_newer_than_the_code_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    db.connect(path, task_store.SCHEMA).execute(f"PRAGMA user_version = {task_store.SCHEMA.version + 1}")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match=f"schema version {task_store.SCHEMA.version + 1}") as refused:
        db.connect(path, task_store.SCHEMA)
    assert refused.value.path == path
    assert path.read_bytes() == before


def test_the_stored_version_is_read_from_the_log_a_killed_writer_left(tmp_path: Path) -> None:
    """A version committed to the write-ahead log but not yet in the file's header still counts."""
    path = tmp_path / "t.sqlite"
    writer = db.connect(path, task_store.SCHEMA)  # left open, as by a writer killed before checkpointing
    writer.execute("PRAGMA user_version = 42")
    assert Path(f"{path}-wal").stat().st_size > 0
    assert stored_version(path) == 42
    writer.close()  # the last connection checkpoints: now the header says it
    assert not Path(f"{path}-wal").exists()
    assert stored_version(path) == 42


def test_the_start_up_scan_names_every_newer_database_and_only_those(tmp_path: Path) -> None:
    data = tmp_path / "data"
    task_store.TaskStore(task_store.task_db_path(data, "old"), "NORMAL").close()
    newer = task_store.task_db_path(data, "newer")
    task_store.TaskStore(newer, "NORMAL").close()
    projection.connect(data / "workspaces" / "w" / "workspace.sqlite", "NORMAL").close()
    registry.TaskRegistry(data / "workspaces" / "w" / "projects" / "p.sqlite", "NORMAL").conn.close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert [(r.path, r.found) for r in upgrades.too_new(data)] == [(newer, 99)]
