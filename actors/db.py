"""SQLite connections for the actors: WAL, one writer per file, short transactions."""

import _sqlite3
import ctypes
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from actors.migrations import Schema, migrate

_CONFIG_PAGECACHE = 7  # sqlite3.h: SQLITE_CONFIG_PAGECACHE


def utcnow() -> str:
    return iso(datetime.now(UTC))


def parse(iso: str) -> float:
    """Seconds since the epoch of a timestamp written by utcnow()."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def iso(moment: datetime) -> str:
    """A moment as utcnow() writes it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def until(moment_iso: str) -> timedelta:
    """How long until a moment written by iso() (nothing if it has passed)."""
    moment = datetime.fromisoformat(moment_iso.replace("Z", "+00:00"))
    return max(moment - datetime.now(UTC), timedelta(0))


def connect(path: Path, schema: Schema, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open (creating if needed) a database as its writer, migrated to the schema's version
    (SchemaTooNew if it is newer than this code).

    WAL lets readers in other processes see committed rows without blocking the writer; NORMAL
    synchronous is durable across a process crash (kill -9), FULL also across power loss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    try:
        migrate(conn, schema, path)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def lean_page_cache() -> bool:
    """Make SQLite size each connection's page cache by the pages it reads. By default a connection sets
    aside room for 20 pages (87 KB) at its first read; a task database uses a handful, so 1,000 tasks in
    flight held some 66 MiB they never used. A process-wide setting, which SQLite takes only while
    uninitialized: done before anything opens a connection (nothing allocated, else it changes nothing
    and says so), and inherited by the processes forked after it. The library is the one this Python's
    sqlite3 module uses, linked or built in."""
    lib = ctypes.CDLL(_sqlite3.__file__)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    if lib.sqlite3_memory_used() != 0:
        return False
    lib.sqlite3_shutdown()
    done = bool(lib.sqlite3_config(_CONFIG_PAGECACHE, None, ctypes.c_int(0), ctypes.c_int(0)) == 0)
    lib.sqlite3_initialize()
    return done
