"""TaskStore, the task actor's writer's view of its database."""

import pytest

from actors.task.reads import read_on_disk
from actors.task.store import TaskStore, prepare_database
from schemas.status import TaskStatus
from tests.helpers.task_rows import FIELDS


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "task.sqlite"
    prepare_database(path)
    store = TaskStore(path, "NORMAL")
    store.create(FIELDS, {})
    yield store
    store.close()


def test_a_store_at_rest_lets_its_connection_go_and_its_next_write_opens_it_again(store):
    """A live task at rest holds no SQLite connection (its memory is SQLite's), only what it read."""
    store.record()
    store.rest()
    assert store._db is None
    assert store.record()["title"] == "Fix it"  # as read before: no connection needed
    assert store._db is None
    store.enter(TaskStatus.init_ensure_name, 1, "2026-11-27T00:00:00Z")
    assert store._db is not None and store.record()["status"] == TaskStatus.init_ensure_name


def test_the_record_follows_every_commit_and_ignores_a_rolled_back_one(store):
    """The record is kept between writes: a commit shows in the next read, a rolled-back write never."""
    assert store.record()["status"] == TaskStatus.init_enqueue_provision
    store.enter(TaskStatus.init_ensure_name, 1, "2026-11-27T00:00:00Z")
    assert store.record()["status"] == TaskStatus.init_ensure_name
    assert store.record()["steps"][0]["status"] == "started"

    with pytest.raises(RuntimeError), store._write() as c:
        c.execute("UPDATE task SET title = 'half done'")
        assert store.record()["title"] == "half done"  # read inside the transaction
        raise RuntimeError("the step failed")
    assert store.record()["title"] == "Fix it"


def test_a_reader_beside_the_writer_sees_every_commit_and_pages_the_history(store, tmp_path):
    """What a worker's pool answers for a task there: the committed record and the asked page of events."""
    store.enter(TaskStatus.init_ensure_name, 1, "2026-11-27T00:00:00Z")
    record, events = read_on_disk(tmp_path / "task.sqlite", after=0, limit=10)
    assert record == store.record()
    assert [(e["seq"], e["kind"]) for e in events] == [(1, "task.created"), (2, "task.status")]
    assert read_on_disk(tmp_path / "task.sqlite", after=1, limit=10)[1][0]["seq"] == 2
    assert read_on_disk(tmp_path / "task.sqlite", after=0, limit=0)[1] == []


def test_a_reader_finds_no_task_in_a_missing_or_never_initialized_database(tmp_path):
    prepare_database(tmp_path / "prepared.sqlite")
    assert read_on_disk(tmp_path / "prepared.sqlite", 0, 10) is None
    assert read_on_disk(tmp_path / "deleted.sqlite", 0, 10) is None


@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
def test_a_create_leaves_the_database_at_its_configured_durability(tmp_path, synchronous, level):
    """The create's commit skips a new WAL's fsyncs under NORMAL only; every later commit is as configured."""
    path = tmp_path / "task.sqlite"
    prepare_database(path)
    store = TaskStore(path, synchronous)
    assert store.create(FIELDS, {})
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    store.close()
