"""Becoming a task's single writer: its lock on `tasks/<id>.lock` first, then its database, so that a
stale copy of the actor can never write beside a new one (docs/design.md, rule 2)."""

import fcntl
import os
import time
from pathlib import Path

from actors.task.spares import spares_of
from actors.task.store import TaskStore, prepare_database, task_db_path


class TaskGone(Exception):
    """The task has no database to open: it was deleted while a command or a resume was on its way."""


def take_task(data: Path, task_id: str, create: bool, synchronous: str) -> tuple[TaskStore, int]:
    """The task's lock, then its database: for a new task an empty one put in place whole (a spare set
    of files when one is ready, see spares.py; else prepare_database), else the one that exists.
    Returns the open store and the lock's descriptor, held while the caller writes. BlockingIOError if
    another actor holds the task; TaskGone if an existing task's database is not there (opened anyway,
    SQLite would make an empty one, and the deleted task would leave files behind)."""
    path = task_db_path(data, task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    spare = spares_of(data).take() if create and not path.exists() else None
    try:
        if spare:
            spare.place_lock(lock)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        if not _lock(fd, wait_s=5.0):  # a predecessor on a worker may still be on its way out
            os.close(fd)
            raise BlockingIOError(f"task {task_id} is held by another actor")
        try:
            if not path.exists():
                if not create:
                    lock.unlink(missing_ok=True)  # made by the open above: a deleted task leaves no file
                    raise TaskGone(task_id)
                if spare:
                    spare.place_database(path)
                else:
                    prepare_database(path)
            return TaskStore(path, synchronous), fd
        except BaseException:
            os.close(fd)  # not taken: the lock goes too
            raise
    finally:
        if spare:
            spare.discard()


def _lock(fd: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
