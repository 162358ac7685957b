"""Read-only access to the actors' databases (docs/design.md, rule 2: one writer, readers read WAL files).

Everything the web process reads goes through this one class. A task whose database is on another host
(a worker of the convention) is read by asking its actor there instead (`remote`, the runtime's).
"""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from actors.db import parse
from actors.runtime.hosts import LEADER
from actors.task.reads import (
    SELECT_EVENTS,
    SELECT_STEPS,
    SELECT_TASK,
    event_from_row,
    record_from_rows,
)
from actors.task.store import WAL_SUFFIXES, task_db_path
from actors.workspace.projection import MAX_CURSOR, deleted_frame, summary_from_row, task_frame
from schemas.status import AT_REST, settled


class RemoteReads(Protocol):
    async def read_task(
        self, workspace: str, task_id: str, after: int, limit: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None: ...


class Reader:
    def __init__(self, data: Path, settle_s: float = 15.0, remote: RemoteReads | None = None) -> None:
        self.data = data
        self.settle_s = settle_s
        self.remote = remote

    def workspace_db(self, workspace: str) -> Path:
        return self.data / "workspaces" / workspace / "workspace.sqlite"

    @asynccontextmanager
    async def _open(self, path: Path) -> AsyncIterator[aiosqlite.Connection]:
        async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            yield conn

    @asynccontextmanager
    async def _open_task(self, path: Path) -> AsyncIterator[aiosqlite.Connection]:
        """A task database that existed when asked for. Deleted while it was open (a delete racing this
        read), its `-shm` file may be made anew by this reader: it goes too, as the delete meant (a task
        id is never used again, so nothing else can own it)."""
        try:
            async with self._open(path) as conn:
                yield conn
        finally:
            if not path.exists():
                for suffix in WAL_SUFFIXES:
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def _workspace_names(self) -> list[str]:
        return [path.parent.name for path in sorted((self.data / "workspaces").glob("*/workspace.sqlite"))]

    async def workspaces(self) -> list[dict[str, Any]]:
        found = []
        for name in self._workspace_names():
            ws = await self.workspace(name)
            if ws:
                found.append(ws)
        return found

    async def workspace(self, name: str) -> dict[str, Any] | None:
        path = self.workspace_db(name)
        if not path.exists():
            return None
        try:
            async with self._open(path) as conn:
                row = await (await conn.execute("SELECT value FROM meta WHERE key='created_at'")).fetchone()
        except sqlite3.OperationalError:
            return None  # being created: its file exists before its schema is committed
        return {"name": name, "created_at": row[0]} if row else None

    async def projects(self, workspace: str) -> list[dict[str, Any]]:
        async with self._open(self.workspace_db(workspace)) as conn:
            rows = await (await conn.execute("SELECT * FROM projects ORDER BY name")).fetchall()
        return [{"workspace": workspace, **dict(r)} for r in rows]

    async def project(self, workspace: str, name: str) -> dict[str, Any] | None:
        async with self._open(self.workspace_db(workspace)) as conn:
            row = await (await conn.execute("SELECT * FROM projects WHERE name = ?", (name,))).fetchone()
        return {"workspace": workspace, **dict(row)} if row else None

    async def tasks(
        self, workspace: str, project: str | None, statuses: list[str], limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first (task ids sort by creation time); the cursor is the last id of the page."""
        where, args = [], []
        if project:
            where.append("project = ?")
            args.append(project)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if cursor:
            where.append("id < ?")
            args.append(cursor)
        sql = "SELECT * FROM tasks" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id DESC LIMIT ?"
        async with self._open(self.workspace_db(workspace)) as conn:
            rows = list(await (await conn.execute(sql, [*args, limit + 1])).fetchall())
        page = [summary_from_row(r) for r in rows[:limit]]
        return page, (page[-1]["id"] if len(rows) > limit else None)

    async def status_counts(self, workspace: str) -> dict[str, int]:
        async with self._open(self.workspace_db(workspace)) as conn:
            rows = await (await conn.execute("SELECT status, count(*) FROM tasks GROUP BY status")).fetchall()
        return {r[0]: r[1] for r in rows}

    async def running(self, workspace: str) -> dict[str, str]:
        """Running tasks whose database is here, on the leader: task id → project."""
        async with self._open(self.workspace_db(workspace)) as conn:
            sql = "SELECT id, project FROM tasks WHERE status = 'running' AND host = ?"
            rows = await (await conn.execute(sql, (LEADER,))).fetchall()
        return {r[0]: r[1] for r in rows}

    async def max_cursor(self, workspace: str) -> int:
        async with self._open(self.workspace_db(workspace)) as conn:
            row = await (await conn.execute(MAX_CURSOR)).fetchone()
        return int(row[0]) if row else 0

    async def feed(self, workspace: str, after: int, upto: int | None) -> list[dict[str, Any]]:
        """The feed's frames after cursor `after` (up to `upto`), by cursor: the latest summary of every
        task changed since, and every deletion."""
        span = "cursor > ?" + (" AND cursor <= ?" if upto is not None else "")
        args = [after] if upto is None else [after, upto]
        async with self._open(self.workspace_db(workspace)) as conn:
            rows = await (await conn.execute(f"SELECT * FROM tasks WHERE {span}", args)).fetchall()
            gone = await (await conn.execute(f"SELECT * FROM deleted WHERE {span}", args)).fetchall()
        frames = [task_frame(r["cursor"], summary_from_row(r)) for r in rows]
        frames += [deleted_frame(r["cursor"], r["task_id"]) for r in gone]
        return sorted(frames, key=lambda f: int(f["cursor"]))

    def _changed_since(self, task_id: str, updated_at: str) -> bool:
        """May the task's database hold commits its projection row lacks? Two stats, no open: a WAL
        file left behind means its writer died without closing; otherwise a write well after the row
        (a passivating actor's close checkpoints into the file about an idle timeout after its last
        commit, hence `settle_s`)."""
        path = task_db_path(self.data, task_id)
        if Path(f"{path}-wal").exists():
            return True
        return path.exists() and path.stat().st_mtime > parse(updated_at) + self.settle_s

    async def _elsewhere(
        self, task_id: str, after: int, limit: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """A task with no database here: read by its actor, if the projection puts it on a worker."""
        if self.remote is None:
            return None
        for name in self._workspace_names():
            async with self._open(self.workspace_db(name)) as conn:
                sql = "SELECT host FROM tasks WHERE id = ?"
                row = await (await conn.execute(sql, (task_id,))).fetchone()
            if row is not None:
                return None if row[0] == LEADER else await self.remote.read_task(name, task_id, after, limit)
        return None

    async def task(self, task_id: str) -> dict[str, Any] | None:
        path = task_db_path(self.data, task_id)
        if not path.exists():
            read = await self._elsewhere(task_id, 0, 0)
            return read[0] if read else None
        try:
            async with self._open_task(path) as conn:
                await conn.execute("BEGIN")  # one snapshot: the task row and its steps agree
                task = await (await conn.execute(SELECT_TASK)).fetchone()
                steps = await (await conn.execute(SELECT_STEPS)).fetchall()
                await conn.execute("COMMIT")
        except sqlite3.OperationalError:
            return None  # created but not yet committed
        return record_from_rows(task, list(steps)) if task else None

    async def history(self, task_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The events after `after`; none for a task with no database here, or whose database was
        deleted while it was read (SQLite then fails with `disk I/O error` or `unable to open`)."""
        path = task_db_path(self.data, task_id)
        if not path.exists():
            read = await self._elsewhere(task_id, after, limit)
            return read[1] if read else []
        try:
            async with self._open_task(path) as conn:
                rows = await (await conn.execute(SELECT_EVENTS, (after, limit))).fetchall()
        except sqlite3.OperationalError:
            if path.exists():
                raise
            return []
        return [event_from_row(r) for r in rows]

    async def unfinished(self) -> dict[str, tuple[str, str]]:
        """Start-up: every task not at rest, task id → (workspace, project). The projection names most,
        opening no task database. It can lag its task (a crash between the task's commit and the
        workspace's): a task it shows at rest whose database changed after that row is read, and so is
        a database no projection knows (a crash before its create answered). Their activation brings
        the projection up to date: the task database is the truth."""
        found: dict[str, tuple[str, str]] = {}
        known: set[str] = set()
        rest = tuple(s.value for s in AT_REST)
        for ws in await self.workspaces():
            async with self._open(self.workspace_db(ws["name"])) as conn:
                sql = "SELECT id, project, status, updated_at FROM tasks"
                rows = await (await conn.execute(sql)).fetchall()
            for row in rows:
                known.add(row["id"])
                if row["status"] not in rest or self._changed_since(row["id"], row["updated_at"]):
                    record = await self.task(row["id"]) if row["status"] in rest else None
                    if record is None or not settled(record):
                        found[row["id"]] = (ws["name"], row["project"])
        for path in (self.data / "tasks").glob("*.sqlite"):
            if path.stem not in known:
                record = await self.task(path.stem)
                if record:  # at rest or not, its activation brings the projection up to date
                    found[record["id"]] = (record["workspace"], record["project"])
        return found
