"""Scale: 10,000 tasks (sim provider) on one real server.

    PYTHONPATH=. .venv/bin/python bench/scale.py [--tasks 10000] [--clients 32] [--cap 64]

1. Creates `--tasks` tasks over `--clients` concurrent connections (0 ms steps), and waits until all
   are `running`; reports creates/s and the time to all running.
2. Memory: total PSS of the server and every actor process, with the live-task cap at `--cap`, once
   settled (idle task actors passivate after 2 s, and the pool's surplus exits 2 s idle later): the
   total follows the cap, not the task count.
3. List: GET /v1/workspaces/default/tasks, 200 requests each of: the first page (limit 100), a status
   filter, a project filter, and a walk of cursor pagination; p50/p99.
4. Start-up: 200 more tasks with 10 s steps (so they are mid-provisioning), `kill -9` of the server's
   group and every actor, restart; time to a healthy server, and until the 200 run again.
Prints a Markdown table; JSON to bench/results/scale.json. Nothing is asserted.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.helpers.metrics import live_actors
from tests.server import Server, make_repo, wait_until

LIST = "/v1/workspaces/default/tasks"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def create_many(port: int, count: int, clients: int) -> float:
    url = f"http://127.0.0.1:{port}/v1/workspaces/default/projects/demo/tasks"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    began = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                async with session.post(url, json={"prompt": f"task {i}"}) as resp:
                    assert resp.status == 201, await resp.text()

        await asyncio.gather(*(worker() for _ in range(clients)))
    return time.monotonic() - began


def running_count(server: Server) -> int:
    body = server.get(f"{LIST}?status=running&limit=1000").body
    count, cursor = len(body["tasks"]), body["next_cursor"]
    while cursor:
        body = server.get(f"{LIST}?status=running&limit=1000&cursor={cursor}").body
        count, cursor = count + len(body["tasks"]), body["next_cursor"]
    return count


def wait_running(server: Server, count: int, timeout: float) -> float:
    began = time.monotonic()
    while running_count(server) < count:
        assert time.monotonic() - began < timeout, "tasks did not all reach running"
        time.sleep(0.5)
    return time.monotonic() - began


def settled(server: Server, projects: int, pool: int = 4) -> bool:
    """No task holds an actor; `projects` have their actors, each with a full pool (4 by default)."""
    live = live_actors(server)
    return [live["task"], live["project"], live["ready"]] == [0, projects, projects * pool]


def total_pss_mib(server: Server) -> tuple[float, int]:
    assert server.proc
    procs = [psutil.Process(server.proc.pid), *server.actor_processes()]
    pss = 0
    for proc in procs:
        try:
            pss += proc.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return pss / 2**20, len(procs)


async def list_latencies(port: int, paths: list[str]) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as session:
        for path in paths:
            began = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                await resp.read()
            out.append((time.perf_counter() - began) * 1000)
    return out


def cursor_walk(server: Server, pages: int) -> list[str]:
    paths, cursor = [], None
    for _ in range(pages):
        path = f"{LIST}?limit=100" + (f"&cursor={cursor}" if cursor else "")
        paths.append(path)
        cursor = server.get(path).body["next_cursor"]
        if not cursor:
            cursor = None
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cap", type=int, default=64)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="crucible-scale-"))
    env = {"CRUCIBLE_SIM_STEP_MS": "0", "CRUCIBLE_MAX_LIVE_TASKS": str(args.cap)}
    env["CRUCIBLE_IDLE_TIMEOUT_S"] = "2"
    server = Server(base / "data", "sim", env)
    rows: list[dict[str, Any]] = []

    def row(figure: str, value: str) -> None:
        rows.append({"figure": figure, "value": value})

    try:
        server.start()
        server.register(make_repo(base / "repo"))
        wall = asyncio.run(create_many(server.port, args.tasks, args.clients))
        row(f"create {args.tasks} tasks, {args.clients} clients", f"{wall:.1f} s")
        row("creates/s", f"{args.tasks / wall:.1f}")
        settle = wait_running(server, args.tasks, timeout=3600)
        row("then until all running", f"{settle:.1f} s")
        wait_until(lambda: settled(server, 1), timeout=60)
        pss, procs = total_pss_mib(server)
        row(f"total PSS, {procs} processes (cap {args.cap})", f"{pss:.0f} MiB")

        walk = cursor_walk(server, 50)
        cases = {
            "list first page (limit 100)": [f"{LIST}?limit=100"] * 200,
            "list status=running": [f"{LIST}?status=running&limit=100"] * 200,
            "list project=demo": [f"{LIST}?project=demo&limit=100"] * 200,
            "list cursor pages (50-page walk x4)": walk * 4,
        }
        for name, paths in cases.items():
            ms = asyncio.run(list_latencies(server.port, paths))
            row(f"{name} p50 / p99", f"{statistics.median(ms):.1f} / {percentile(ms, 0.99):.1f} ms")

        server.stop()
        server.env["CRUCIBLE_SIM_STEP_MS"] = "10000"
        server.start()
        asyncio.run(create_many(server.port, 200, 16))
        time.sleep(1)
        server.kill9()
        began = time.monotonic()
        server.start()
        row(f"start-up, {args.tasks + 200} tasks, 200 mid-step: healthy", f"{time.monotonic() - began:.2f} s")
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    print("| figure | value |\n|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['value']} |")
    out = Path(__file__).parent / "results" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
