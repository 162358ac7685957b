"""SQLite connections for the actors: WAL, one writer per file, short transactions."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from actors.migrations import Schema, migrate


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
