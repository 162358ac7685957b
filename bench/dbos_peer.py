"""The DBOS Transact peer of bench/vs_dbos.py: Crucible's create-and-provision workload, written the way a
Python team would write it with DBOS, so the two can be measured side by side.

    POST /tasks          a durable create: enqueues workflow `provision` (workflow id = task id), 201 {"id"}
    GET  /tasks/{id}     that workflow's DBOS status (ENQUEUED, PENDING, SUCCESS, ERROR, ...)
    GET  /stats          {status: count} over every workflow: the runner polls this to wait for completion
    GET  /done           ids of the workflows in SUCCESS: the runner's count of lost tasks
    GET  /health         200 once DBOS is launched and its queue worker runs (recovery has begun)

`provision` runs four `@DBOS.step()` calls, as Crucible's provisioning has four steps (ensure name, create
sandbox, ensure agent, create agent session); each sleeps the step time and inserts one row (task_id, step)
into table `effects` of the app database `<dir>/app.sqlite`. The insert is plain (no unique key): DBOS runs
a step at least once, so a kill between the insert and DBOS's checkpoint of the step shows up as a duplicate
row, which the runner counts. (Crucible's `sim` provider records its side effects in
`<data>/sim/effects.jsonl`.)

Tuned for a fair comparison (Crucible's databases are SQLite in WAL with synchronous=NORMAL):
  - system database: SQLite, `system_database_url = sqlite:///<dir>/dbos.sqlite` in DBOSConfig; the file is
    switched to WAL before launch (the mode persists in the file) and every SQLite connection SQLAlchemy
    opens in this process gets `journal_mode=WAL, synchronous=NORMAL` (a global engine `connect` listener,
    on top of DBOS's own IMMEDIATE transactions and 30 s busy timeout);
  - app database: SQLite, WAL, synchronous=NORMAL, one connection;
  - `--mode queue` (default): POST enqueues on a DBOS queue registered with worker_concurrency=32 (flag
    `--concurrency`) and polling_interval_sec=0.1 (flag `--poll`; DBOS's default is 1 s); /health answers
    only once DBOS's worker thread for that queue runs; `--mode start`: POST calls DBOS.start_workflow, so
    every workflow starts at once with no bound;
  - synchronous workflow and steps (time.sleep), each workflow on a thread of DBOS's executor, the POST
    handler calling DBOS's synchronous API through asyncio.to_thread: in a smoke test the same workflow
    written async (asyncio.sleep, on aiohttp's loop) took ~15% more CPU per task, and the peer is CPU-bound
    at one core (DBOS's SQLAlchemy writes: ~6 transactions per workflow, under the GIL);
  - system database pool: DBOS's default of 20 connections (`--pool`; 1 and 4 measured no better);
  - DBOS's notification listener polls every 0.1 s (its default is 1 s); log level WARNING (DBOS logs nothing
    per workflow at INFO either: only start-up, queue and recovery notices), to the runner's log file.

Recovery after kill -9 is DBOS's own: on launch it recovers this executor's PENDING workflows and the queue
dequeues the ENQUEUED ones; completed steps are not run again.

Run by bench/vs_dbos.py and bench/floor.py (through bench/harness/systems.py `Script`, which starts it in its
own process group, on a private port and directory):

    python bench/dbos_peer.py --port 8123 --dir /tmp/peer --step-ms 50 [--mode queue|start] [--concurrency 32]

Needs `dbos` (`pip install -e '.[bench]'`, pinned in pyproject.toml).
"""

import argparse
import asyncio
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from dbos import DBOS, DBOSConfig, SetWorkflowID

STEPS = ("name", "sandbox", "agent", "session")
QUEUE = "provision"


class Effects:
    """The app database: one row per step side effect, on one connection shared by the workflow threads."""

    conn: sqlite3.Connection | None = None
    lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> None:
        cls.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        cls.conn.execute("PRAGMA journal_mode=WAL")
        cls.conn.execute("PRAGMA synchronous=NORMAL")
        cls.conn.execute("CREATE TABLE IF NOT EXISTS effects (task_id TEXT NOT NULL, step TEXT NOT NULL)")

    @classmethod
    def record(cls, task_id: str, step: str) -> None:
        assert cls.conn is not None
        with cls.lock:
            cls.conn.execute("INSERT INTO effects (task_id, step) VALUES (?, ?)", (task_id, step))


@DBOS.step()
def provision_step(task_id: str, step: str, delay_s: float) -> None:
    """One provisioning step: sleep the step time, record its side effect. DBOS checkpoints each call on its
    own (by its place in the workflow), so one step function serves the four steps."""
    time.sleep(delay_s)
    Effects.record(task_id, step)


@DBOS.workflow()
def provision(task_id: str, delay_s: float) -> str:
    for step in STEPS:
        provision_step(task_id, step, delay_s)
    return task_id


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL and synchronous=NORMAL on every SQLite connection, DBOS's system database included: the settings
    Crucible runs with, so neither side pays for fsyncs the other skips."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def configure(directory: Path, pool: int) -> None:
    system_db = directory / "dbos.sqlite"
    with sqlite3.connect(system_db) as conn:  # WAL is a property of the file: set once, before DBOS opens it
        conn.execute("PRAGMA journal_mode=WAL")
    config: DBOSConfig = {
        "name": "crucible-peer",
        "system_database_url": f"sqlite:///{system_db}",
        "notification_listener_polling_interval_sec": 0.1,
        "log_level": "WARNING",
        "sys_db_pool_size": pool,
    }
    DBOS(config=config)


async def queue_worker_started(timeout_s: float = 5.0) -> None:
    """Wait for DBOS's worker thread of our queue: its queue manager looks for queues registered after launch
    once a second, and until it has, enqueued workflows wait. /health answers only after this, so no figure
    includes that start-up delay."""
    name = f"queue-worker-{QUEUE}"
    for _ in range(int(timeout_s / 0.02)):
        if any(thread.name == name for thread in threading.enumerate()):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"DBOS started no thread {name}")


def make_app(args: argparse.Namespace) -> web.Application:
    delay_s = args.step_ms / 1000
    system_db = args.dir / "dbos.sqlite"
    state: dict[str, Any] = {}

    async def on_startup(_app: web.Application) -> None:
        Effects.open(args.dir / "app.sqlite")
        DBOS.launch()  # inside the running loop: DBOS runs async workflows on it
        if args.mode == "queue":
            state["queue"] = await DBOS.register_queue_async(
                QUEUE, worker_concurrency=args.concurrency, polling_interval_sec=args.poll
            )
            await queue_worker_started()
        state["reader"] = sqlite3.connect(f"file:{system_db}?mode=ro", uri=True, check_same_thread=False)

    async def on_cleanup(_app: web.Application) -> None:
        DBOS.destroy(workflow_completion_timeout_sec=0)

    def start(task_id: str) -> None:
        """Durable once this returns: the workflow's row is committed (ENQUEUED, or PENDING and running)."""
        with SetWorkflowID(task_id):
            if args.mode == "queue":
                state["queue"].enqueue(provision, task_id, delay_s)
            else:
                DBOS.start_workflow(provision, task_id, delay_s)

    async def create(_request: web.Request) -> web.Response:
        task_id = uuid.uuid4().hex
        await asyncio.to_thread(start, task_id)  # DBOS's synchronous API, off the event loop
        return web.json_response({"id": task_id}, status=201)

    async def task(request: web.Request) -> web.Response:
        status = await DBOS.get_workflow_status_async(request.match_info["id"])
        if status is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"id": status.workflow_id, "status": status.status})

    async def stats(_request: web.Request) -> web.Response:
        """Counts by status in one indexed query (a read-only connection; WAL never blocks it)."""
        rows = state["reader"].execute("SELECT status, count(*) FROM workflow_status GROUP BY status")
        return web.json_response(dict(rows.fetchall()))

    async def done(_request: web.Request) -> web.Response:
        rows = state["reader"].execute("SELECT workflow_uuid FROM workflow_status WHERE status = 'SUCCESS'")
        return web.json_response([r[0] for r in rows.fetchall()])

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.add_routes(
        [
            web.post("/tasks", create),
            web.get("/tasks/{id}", task),
            web.get("/stats", stats),
            web.get("/done", done),
            web.get("/health", health),
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="databases go here")
    parser.add_argument("--step-ms", type=int, default=50, help="sleep of each of the four steps")
    parser.add_argument("--mode", choices=("queue", "start"), default="queue")
    parser.add_argument("--concurrency", type=int, default=32, help="queue worker concurrency")
    parser.add_argument("--poll", type=float, default=0.1, help="queue polling interval, seconds")
    parser.add_argument("--pool", type=int, default=20, help="system database connections (DBOS: 20)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    configure(args.dir, args.pool)
    web.run_app(make_app(args), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
