"""TaskStore, the task actor's writer's view of its database."""

import pytest

from actors.task_store import TaskStore, prepare_database
from schemas.status import TaskStatus

FIELDS = {
    "id": "t" * 22,
    "workspace": "ws",
    "project": "p",
    "title": "Fix it",
    "branch": "fix-it",
    "branch_given": 0,
    "prompt": "fix it",
    "agent": "mock",
    "provider": "sim",
}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "task.sqlite"
    prepare_database(path)
    store = TaskStore(path, "NORMAL")
    store.create(FIELDS, {})
    yield store
    store.close()


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
