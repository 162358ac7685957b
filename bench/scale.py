"""Scale: 10,000 tasks (sim provider) on one real server.

    PYTHONPATH=. .venv/bin/python bench/scale.py [--tasks 10000] [--clients 32] [--cap N]
        [--restart-tasks 200]

1. Creates `--tasks` tasks over `--clients` concurrent connections (0 ms steps), and waits until all
   are `running`; reports creates/s and the time to all running.
2. Memory: total PSS of the server and every actor process, with the live-task cap at `--cap` (the
   server's default CRUCIBLE_MAX_LIVE_TASKS unless given), once every task actor has gone (idle task
   actors passivate after 2 s): the total follows neither the cap nor the task count.
3. List: GET /v1/workspaces/default/tasks, 200 requests each of: the first page (limit 100), a status
   filter, a project filter, and a walk of cursor pagination; p50/p99.
4. Start-up: `--restart-tasks` more tasks with 10 s steps (so they are mid-provisioning), `kill -9` of the
   server's group and every actor, restart; time to a healthy server.
Prints a Markdown table; JSON to bench/results/scale.json. Nothing is asserted.
"""

import argparse
import asyncio
import time

from bench.harness.clients import creates, session
from bench.harness.report import median, percentile, report, table
from bench.harness.systems import TASKS, Crucible, Run, memory, wait_until


async def list_latencies(crucible: Crucible, paths: list[str]) -> list[float]:
    """Each GET in turn on one keep-alive connection, timed from request to the last byte (ms)."""
    out = []
    async with session(crucible, 1) as http:
        for path in paths:
            began = time.perf_counter()
            async with http.get(path) as resp:
                await resp.read()
            out.append((time.perf_counter() - began) * 1000)
    return out


def cursor_walk(crucible: Crucible, pages: int) -> list[str]:
    """The paths of the first `pages` pages (limit 100), following the cursor (from the start again at the
    end)."""
    paths, cursor = [], None
    for _ in range(pages):
        paths.append(f"{TASKS}?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        cursor = crucible.get(paths[-1])["next_cursor"] or None
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cap", type=int, default=None)
    parser.add_argument("--restart-tasks", type=int, default=200)
    args = parser.parse_args()
    env = {"CRUCIBLE_SIM_STEP_MS": "0", "CRUCIBLE_IDLE_TIMEOUT_S": "2"}
    if args.cap is not None:
        env["CRUCIBLE_MAX_LIVE_TASKS"] = str(args.cap)
    cap = "default cap" if args.cap is None else f"cap {args.cap}"
    rows: list[tuple[str, str]] = []
    with Run("scale") as run:
        crucible = run.crucible(env)
        batch = creates(crucible, args.tasks, args.clients)
        assert not batch.errors, batch.errors
        rows.append((f"create {args.tasks} tasks, {args.clients} clients", f"{batch.wall_s:.1f} s"))
        rows.append(("creates/s", f"{args.tasks / batch.wall_s:.1f}"))
        began = time.monotonic()
        while len(crucible.tasks("status=running")) < args.tasks:  # every 0.5 s: a walk of every page
            assert time.monotonic() - began < 3600, "tasks did not all reach running"
            time.sleep(0.5)
        rows.append(("then until all running", f"{time.monotonic() - began:.1f} s"))
        wait_until(crucible.at_rest, timeout=60)
        pss = memory(crucible.processes())
        rows.append((f"total PSS, {pss['processes']} processes ({cap})", f"{pss['PSS MiB']:.0f} MiB"))

        walk = cursor_walk(crucible, 50)
        cases = {
            "list first page (limit 100)": [f"{TASKS}?limit=100"] * 200,
            "list status=running": [f"{TASKS}?status=running&limit=100"] * 200,
            "list project=demo": [f"{TASKS}?project=demo&limit=100"] * 200,
            "list cursor pages (50-page walk x4)": walk * 4,
        }
        for name, paths in cases.items():
            ms = asyncio.run(list_latencies(crucible, paths))
            rows.append((f"{name} p50 / p99", f"{median(ms):.1f} / {percentile(ms, 99):.1f} ms"))

        crucible.server.stop()
        crucible.env["CRUCIBLE_SIM_STEP_MS"] = "10000"
        crucible.restart()
        creates(crucible, args.restart_tasks, 16)
        time.sleep(1)
        crucible.kill9()
        began = time.monotonic()
        crucible.restart()
        total = args.tasks + args.restart_tasks
        rows.append(
            (
                f"start-up, {total} tasks, {args.restart_tasks} mid-step: healthy",
                f"{time.monotonic() - began:.2f} s",
            )
        )
    title = f"Scale: {args.tasks} tasks on one server"
    report("scale", title, table(["figure", "value"], rows), dict(rows), run.leftovers)


if __name__ == "__main__":
    main()
