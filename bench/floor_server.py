"""The least a create can cost in Crucible's fixed shape: the reference server of bench/floor.py.

Crucible's mission fixes a shape: thespian actors in their own processes, one SQLite database per task
written only by its task actor, and a task listed as soon as its create has answered. This
server keeps that shape and drops everything else a create does in Crucible: no workspace hop in, no
project (no id or branch reservation, no idempotency key, no cap), no fork (the ready actors are reused),
no provisioning afterwards. What it keeps is Crucible's own code for each part:

    POST /tasks    the bridge (backend/bridge.py) asks a ready TaskActor-like actor, round robin, to
                   Initialize: it takes the task's lock, puts an empty database in place
                   (actors/task/store.py: prepare_database) and commits the record (TaskStore.create);
                   --hops 1: it answers the bridge;
                   --hops 2: it tells a projection actor, which upserts the summary into a shared
                   database (as the workspace's projection) and answers the bridge (read-your-writes);
                   --hops 0: no actor at all: the web process does both writes itself, on a thread
                   (outside the shape: it would make the web process a writer of both databases).
    GET  /stats    {"SUCCESS": n}: every acknowledged create is complete (nothing provisions)
    GET  /done     ids of every acknowledged create
    GET  /health   200

    PYTHONPATH=. python bench/floor_server.py --port P --actor-port A --dir D [--hops 0|1|2] [--actors 8]
"""

import argparse
import asyncio
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from thespian.actors import ActorExitRequest, ActorTypeDispatcher

from actors import db, migrations
from actors.runtime import system  # system: the loopback bind, as in Crucible
from actors.task.lock import take_task
from actors.task.store import TaskStore, initial_fields
from backend.bridge import Bridge
from schemas.messages import Reply
from schemas.status import AgentKind, ProviderKind
from schemas.task_messages import Initialize

TABLE = "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, status TEXT NOT NULL, seq INTEGER NOT NULL)"
PROJECTION = migrations.Schema("floor-projection", (migrations.create(TABLE),))

UPSERT = "INSERT INTO tasks VALUES (?, 'init_enqueue_provision', 1) ON CONFLICT DO NOTHING"


class Created(Reply):
    task_id: str


class Projected(Initialize):
    """Ready actor → projection actor (--hops 2): the new task's summary, and whom to answer."""


class Setup(Reply):
    data: Path
    projection: Any = None  # the projection actor's address, with --hops 2


class ProjectionActor(ActorTypeDispatcher):
    """The workspace's part: one upsert per create into the shared projection, then the answer."""

    conn: Any = None

    def receiveMsg_Setup(self, msg: Setup, sender: Any) -> None:
        self.conn = db.connect(msg.data / "projection.sqlite", PROJECTION)
        self.send(sender, msg)

    def receiveMsg_Projected(self, msg: Projected, sender: Any) -> None:
        with db.transaction(self.conn) as c:
            c.execute(UPSERT, (msg.task_id,))
        self.send(msg.reply_to, Created(request_id=msg.request_id, task_id=msg.task_id))


class ReadyActor(ActorTypeDispatcher):
    """The task actor's part: lock, empty database put in place, the create's commit."""

    setup: Setup | None = None
    store: TaskStore | None = None
    lock_fd: int | None = None

    def receiveMsg_Setup(self, msg: Setup, sender: Any) -> None:
        self.setup = msg
        self.send(sender, msg)

    def receiveMsg_Initialize(self, msg: Initialize, sender: Any) -> None:
        assert self.setup
        self._release()  # the previous task's (a real actor would stay with it, and a fresh one come)
        self.store, self.lock_fd = initialize(self.setup.data, msg)
        if self.setup.projection is None:
            self.send(sender, Created(request_id=msg.request_id, task_id=msg.task_id))
        else:
            self.send(self.setup.projection, Projected(**{**msg.model_dump(), "reply_to": sender}))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: Any) -> None:
        self._release()

    def _release(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)
        self.store, self.lock_fd = None, None


def initialize(data: Path, msg: Initialize) -> tuple[TaskStore, int]:
    """Crucible's create in a task actor: the task's lock, its database put in place
    (actors/task/lock.py: take_task), the record committed. Returns the open store and the lock's
    descriptor."""
    store, lock_fd = take_task(data, msg.task_id, create=True, synchronous="NORMAL")
    fields = initial_fields(msg, "default", "demo")
    store.create(fields, {k: fields[k] for k in ("prompt", "agent", "provider")})
    return store, lock_fd


class WebWriter:
    """--hops 0: the web process writes the task's database and the projection's row itself, on a thread
    (no actor on the create path; the shape the mission rules out, measured for comparison)."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.projection = db.connect(data / "projection.sqlite", PROJECTION)
        self.lock = threading.Lock()

    def create(self, msg: Initialize) -> None:
        store, lock_fd = initialize(self.data, msg)
        with self.lock, db.transaction(self.projection) as c:
            c.execute(UPSERT, (msg.task_id,))
        store.close()  # handed over to the task's actor, which would open it again
        os.close(lock_fd)


def serve(port: int, actor_port: int, data: Path, hops: int, actors: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    asys = system.start(actor_port, data)  # first, as Crucible's main(): forked actors inherit nothing
    bridge = Bridge(asys, threads=8, timeout=10.0)
    ready: list[Any] = []
    done: list[str] = []

    writer = WebWriter(data) if hops == 0 else None

    async def start(app: web.Application) -> Any:
        setup = Setup(request_id="setup", data=data)
        if hops == 2:
            projection = await bridge.create_actor(ProjectionActor, "floor-projection")
            await bridge.ask(projection, setup)
            setup = setup.model_copy(update={"projection": projection})
        for n in range(actors):
            ready.append(await bridge.create_actor(ReadyActor, f"floor-ready-{n}"))
            await bridge.ask(ready[-1], setup)
        yield
        bridge.close()
        asys.shutdown()

    async def create(request: web.Request) -> web.Response:
        task_id = secrets.token_hex(8)
        msg = Initialize(
            request_id=Bridge.request_id(),
            task_id=task_id,
            title="Benchmark task",
            branch=f"benchmark-task-{task_id[-10:]}",
            branch_given=False,
            prompt="Benchmark task\nnothing to do",
            agent=AgentKind.mock,
            provider=ProviderKind.sim,
        )
        if writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, writer.create, msg)
        else:
            reply = await bridge.ask(ready[len(done) % len(ready)], msg)
            assert isinstance(reply, Created), reply
        done.append(task_id)
        return web.json_response({"id": task_id}, status=201)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"SUCCESS": len(done)})

    async def ids(request: web.Request) -> web.Response:
        return web.json_response(done)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.cleanup_ctx.append(start)
    app.router.add_post("/tasks", create)
    app.router.add_get("/stats", stats)
    app.router.add_get("/done", ids)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--actor-port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--hops", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--actors", type=int, default=8, help="ready actors, used round robin")
    args = parser.parse_args()
    serve(args.port, args.actor_port, args.dir, args.hops, args.actors)


if __name__ == "__main__":
    main()
