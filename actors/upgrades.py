"""A data directory written by a newer Crucible is refused at start-up, with the first file that says
so, before any actor opens anything: a server that started would fail task by task instead, or worse,
misread what it does not know. Older databases need nothing here: each is migrated when its writer
opens it (actors/migrations.py)."""

from collections.abc import Iterator
from pathlib import Path

from actors.cluster import actor as cluster
from actors.migrations import Schema, SchemaTooNew, stored_version
from actors.project import registry
from actors.task import store as task_store
from actors.workspace import projection

# Where each kind of database lives under a data directory (a worker's has only tasks).
LAYOUT: tuple[tuple[str, Schema], ...] = (
    ("tasks/*.sqlite", task_store.SCHEMA),
    ("workspaces/*/workspace.sqlite", projection.SCHEMA),
    ("workspaces/*/projects/*.sqlite", registry.SCHEMA),
    ("cluster.sqlite", cluster.SCHEMA),
)


def too_new(data: Path) -> Iterator[SchemaTooNew]:
    """Every database under `data` newer than this code. Reads headers only: ~15 µs a file."""
    for pattern, schema in LAYOUT:
        for path in sorted(data.glob(pattern)):
            found = stored_version(path)
            if found > schema.version:
                yield SchemaTooNew(path, found, schema.version)
