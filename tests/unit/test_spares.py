"""Spare task files (actors/task/spares.py): a create moves a set made ahead into place."""

import os
import subprocess
import sys
import time

import pytest

from actors.task import spares
from actors.task.lock import take_task
from actors.task.reads import read_on_disk
from actors.task.spares import Spares, remove_orphans
from actors.task.store import task_db_path
from tests.helpers.task_rows import FIELDS


def ready(pool: Spares, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(pool._ready) < spares.READY and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pool._ready) == spares.READY, "the pool was not refilled"


def test_a_placed_spare_is_a_working_task_database_and_leaves_nothing_behind(tmp_path):
    pool = Spares(tmp_path)
    ready(pool)
    spare = pool.take()
    assert spare is not None
    path = task_db_path(tmp_path, "t" * 22)
    path.parent.mkdir()
    spare.place_lock(path.with_suffix(".lock"))
    spare.place_database(path)
    spare.discard()

    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        f"{'t' * 22}{suffix}" for suffix in (".lock", ".sqlite", ".sqlite-wal", ".sqlite-shm")
    )
    assert not [p for p in (spare.lock, spare.database) if p.exists()]  # moved, not copied
    store, fd = take_task(tmp_path, "t" * 22, create=False, synchronous="NORMAL")
    assert store.create(FIELDS, {})
    store.close()
    os.close(fd)
    record, events = read_on_disk(path, after=0, limit=10)
    assert record["title"] == "Fix it" and [e["kind"] for e in events] == ["task.created"]


def test_a_lock_already_in_place_is_kept_not_replaced(tmp_path):
    """An earlier attempt's lock may be held: the spare's must not become a second, unrelated one."""
    pool = Spares(tmp_path)
    ready(pool)
    lock = tmp_path / "task.lock"
    lock.write_bytes(b"")
    inode = lock.stat().st_ino
    spare = pool.take()
    assert spare is not None
    spare.place_lock(lock)
    assert lock.stat().st_ino == inode
    spare.discard()
    assert not spare.lock.exists()


def test_a_stale_wal_beside_a_missing_database_is_replaced_not_replayed(tmp_path):
    """A deletion cut short can leave a WAL; replayed into a new database it would corrupt it."""
    pool = Spares(tmp_path)
    ready(pool)
    path = tmp_path / "task.sqlite"
    path.with_name("task.sqlite-wal").write_bytes(os.urandom(8192))
    spare = pool.take()
    assert spare is not None
    spare.place_database(path)
    assert path.with_name("task.sqlite-wal").stat().st_size == 0


def test_take_task_makes_its_own_files_when_no_spare_is_ready(tmp_path, monkeypatch):
    monkeypatch.setattr(Spares, "take", lambda self: None)
    store, fd = take_task(tmp_path, "u" * 22, create=True, synchronous="NORMAL")
    assert store.create({**FIELDS, "id": "u" * 22}, {})
    store.close()
    os.close(fd)
    assert read_on_disk(task_db_path(tmp_path, "u" * 22), 0, 10) is not None


def test_a_new_task_takes_a_spare_set_and_the_pool_is_refilled(tmp_path):
    take_task(tmp_path, "w" * 22, create=True, synchronous="NORMAL")  # starts this process's pool
    pool = spares.spares_of(tmp_path)
    ready(pool)
    made = pool._made
    store, fd = take_task(tmp_path, "v" * 22, create=True, synchronous="NORMAL")
    store.close()
    os.close(fd)
    ready(pool)
    assert pool._made == made + 1


@pytest.mark.parametrize("alive", [True, False])
def test_only_the_spares_of_ended_processes_are_removed(tmp_path, alive):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        if not alive:
            proc.kill()
            proc.wait()
        (tmp_path / str(proc.pid)).mkdir()
        (tmp_path / str(proc.pid) / "1.lock").write_bytes(b"")
        remove_orphans(tmp_path)
        assert (tmp_path / str(proc.pid)).exists() == alive
    finally:
        proc.kill()
        proc.wait()
