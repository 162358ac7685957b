"""A new task's files, made ahead of the create that needs them.

A new task needs four new files: its lock, its database, the database's WAL and its shared-memory index.
Making a file costs its inode: 0.7-1 ms of kernel time each on the cloud VMs Crucible is measured on,
against 0.03 ms to rename or link one. So each runner process keeps a few sets ready, made by a thread
of its own in `<data>/spare/<pid>/`, and a create moves one set into place. With none ready (a burst),
the create makes its files itself, as without spares.
"""

import contextlib
import functools
import os
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from actors.runtime import system
from actors.task.store import WAL_SUFFIXES, database_files, empty_database

READY = 8  # sets kept ready per process: a burst of creates beyond them makes its own files


@dataclass(frozen=True)
class Spare:
    database: Path

    @property
    def lock(self) -> Path:
        return self.database.with_suffix(".lock")  # as beside a task's database

    def place_lock(self, lock: Path) -> None:
        """The spare lock file becomes the task's, unless it has one already (an earlier attempt's, maybe
        held): a link never replaces a file, so two holders can never lock two different files."""
        with contextlib.suppress(FileExistsError):
            os.link(self.lock, lock)

    def place_database(self, path: Path) -> None:
        """An empty database, with an empty WAL and index beside it. The caller holds the task's lock and
        `path` does not exist: no connection can be using a WAL or index there, so any left by an
        earlier attempt (or by a deletion cut short) is replaced. The database goes last, so it never
        appears beside a stale WAL."""
        for suffix in WAL_SUFFIXES:
            os.replace(f"{self.database}{suffix}", f"{path}{suffix}")
        os.replace(self.database, path)

    def discard(self) -> None:
        """Whatever was not placed."""
        for leftover in database_files(self.database):
            leftover.unlink(missing_ok=True)


class Spares:
    """The sets ready in one process, refilled by a daemon thread as they are taken."""

    def __init__(self, data: Path) -> None:
        self._dir = data / "spare" / str(os.getpid())
        self._ready: deque[Spare] = deque()
        self._wanted = threading.Event()
        self._made = 0
        self._dir.mkdir(parents=True, exist_ok=True)
        self._wanted.set()
        threading.Thread(target=self._refill, name="task-spares", daemon=True).start()

    def take(self) -> Spare | None:
        """A ready set, or None if there is none just now."""
        try:
            spare = self._ready.popleft()
        except IndexError:
            spare = None
        self._wanted.set()
        return spare

    def _refill(self) -> None:
        remove_orphans(self._dir.parent)  # here, not on the path of the create that made the pool
        while self._wanted.wait():
            self._wanted.clear()
            while len(self._ready) < READY:
                try:
                    self._ready.append(self._make())
                except OSError:  # a full disk: creates make their own files (and get its error)
                    break

    def _make(self) -> Spare:
        self._made += 1
        spare = Spare(self._dir / f"{self._made}.sqlite")
        os.close(os.open(spare.lock, os.O_CREAT | os.O_WRONLY, 0o600))
        for suffix in WAL_SUFFIXES:
            os.close(os.open(f"{spare.database}{suffix}", os.O_CREAT | os.O_WRONLY, 0o644))
        spare.database.write_bytes(empty_database(self._dir))
        return spare


def remove_orphans(spare_root: Path) -> None:
    """The spares of processes that have ended (a runner killed with -9 leaves its own)."""
    with contextlib.suppress(FileNotFoundError):
        for directory in spare_root.iterdir():
            if not (directory.name.isdigit() and system.process_alive(int(directory.name))):
                shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def _spares(data: Path, pid: int) -> Spares:
    return Spares(data)


def spares_of(data: Path) -> Spares:
    """This process's spares (its thread is its own: a forked child starts another)."""
    return _spares(data, os.getpid())
