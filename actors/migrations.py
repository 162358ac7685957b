"""Schema versions of Crucible's databases, and the migrations that bring an older one forward.

Every database records its version in `PRAGMA user_version`. Databases made before versions existed say
0; so does a new, empty one. Opening a database as its writer runs the migrations it lacks, in one
transaction with the version bump: a crash part-way leaves it at its old version, and the next opening
runs them again. Each migration is idempotent too (`IF NOT EXISTS`, columns added only if missing), so a
database already in the shape a migration makes is not harmed. A database newer than this code is
refused, never read: its meaning is unknown here (docs/operations.md, "Upgrades").
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]


class SchemaTooNew(Exception):
    """A database written by a newer Crucible: refuse to run on it rather than misread it."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, but this Crucible knows versions up to {known}:"
            " run the newer Crucible that wrote it, or restore a backup"
        )
        self.path, self.found, self.known = path, found, known


@dataclass(frozen=True)
class Schema:
    """One kind of database: migrations[i] takes version i to version i + 1."""

    kind: str
    migrations: tuple[Migration, ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


def create(sql: str) -> Migration:
    """A migration of `CREATE … IF NOT EXISTS` statements, run one by one (executescript would commit)."""

    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


def add_column(table: str, column: str, declaration: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    return run


def chain(*steps: Migration) -> Migration:
    """Several steps as one version: the first version of a kind includes the columns added to it
    before versions existed, which an older database may lack."""

    def run(conn: sqlite3.Connection) -> None:
        for step in steps:
            step(conn)

    return run


def migrate(conn: sqlite3.Connection, schema: Schema, path: Path) -> int:
    """Bring an open database to `schema.version`, as its writer. Returns the version it had."""
    found = user_version(conn)
    if found > schema.version:
        raise SchemaTooNew(path, found, schema.version)
    if found == schema.version:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in schema.migrations[found:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {schema.version}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def stored_version(path: Path) -> int:
    """The version of a database no process has open, read cheaply: from the file's header (bytes
    60-63), unless a write-ahead log beside it may hold a newer one (a writer killed before it
    checkpointed); then through SQLite, read-only. The header costs ~15 µs, SQLite ~0.7 ms."""
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return user_version(conn)
        finally:
            conn.close()
    with path.open("rb") as f:
        f.seek(60)
        header = f.read(4)
    return int.from_bytes(header, "big") if len(header) == 4 else 0
