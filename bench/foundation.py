"""Foundation benchmark: what a create costs, how fast a task provisions, what it weighs, how fast we start.

Every figure comes from a real server (bench/harness: process group, private ports, temp data dir):
  1. Create latency over HTTP: 1 client sequential, then 16 concurrent (one aiohttp client session, limit
     16), for `sim` (CRUCIBLE_SIM_STEP_MS=50) and `local` (real git checkouts and sandbox-agent processes);
     10 warm-up creates, every task complete between phases; median of 3 runs, each on a fresh server.
  2. Create → `running`, tasks one at a time, GET /v1/tasks/{id} every 10 ms (local; sim with step 0).
  3. Memory: PSS of each actor process (by kind) and of the web process, after the last sim run and with
     200 tasks at rest.
  4. Start-up: launch → GET /v1/health 200 with an empty data dir and the 200-task one (and SIGTERM → exit).

    PYTHONPATH=. .venv/bin/python bench/foundation.py [--quick] [--keep]   (~2 min)

Prints Markdown tables; writes bench/results/foundation.json (per-run figures too). Nothing is asserted.
"""

import argparse
import statistics
import time
from collections import Counter
from typing import Any

import psutil

from bench.harness.clients import Creates, phases
from bench.harness.report import medians, percentile, records, report
from bench.harness.systems import Crucible, Run
from schemas.status import AT_REST

SIM50 = {"CRUCIBLE_SIM_STEP_MS": "50"}
# Every local task of a run keeps its agent (none is archived): beyond the live-agent cap (32) a task waits
# in init_ensure_agent for good, and a phase would never complete. The cap is raised to hold them all.
LOCAL = {"CRUCIBLE_MAX_LIVE_AGENTS": "400"}
TO_RUNNING = {"local": ("local", {}), "sim, step 0": ("sim", {"CRUCIBLE_SIM_STEP_MS": "0"})}


def to_running(crucible: Crucible, n: int) -> dict[str, float]:
    """`n` tasks one after the other, each from its create until at rest (polled every 10 ms)."""
    ms: list[float] = []
    for _ in range(n):
        began, status = time.perf_counter(), "?"
        response = crucible.server.create({"prompt": "Benchmark task\nnothing to do"})
        while response.status == 201 and status not in AT_REST:
            status = crucible.server.task(response.body["id"])["status"]
            time.sleep(0 if status in AT_REST else 0.01)
        if status == "running":
            ms.append((time.perf_counter() - began) * 1000)
    return {"n": n, "p50 ms": percentile(ms, 50), "p99 ms": percentile(ms, 99), "not running": n - len(ms)}


def kind_of(proc: psutil.Process, depth: int) -> str:
    """Admin → {Logger, Runner…}: a runner holds the actors' log open, and the workspace's database if
    it hosts the workspace (with its projects and tasks)."""
    if depth == 0:
        return "admin"
    files = " ".join(f.path for f in proc.open_files())
    if "actors.log" not in files:
        return "logger"
    return "runner, the workspace's" if "workspace.sqlite" in files else "runner, another"


def memory(crucible: Crucible, state: str) -> list[dict[str, Any]]:
    """PSS (MiB) by kind of actor process, and of the web process."""
    procs = {p.pid: p for p in crucible.server.actor_processes()}
    kinds: dict[str, list[float]] = {}
    for proc in procs.values():
        try:
            depth, up = 0, proc.ppid()
            while up in procs:
                depth, up = depth + 1, procs[up].ppid()
            kinds.setdefault(kind_of(proc, depth), []).append(proc.memory_full_info().pss / 2**20)
        except psutil.Error:
            continue
    kinds["all actors"] = [x for xs in kinds.values() for x in xs]
    assert crucible.server.proc
    kinds["web"] = [psutil.Process(crucible.server.proc.pid).memory_full_info().pss / 2**20]
    return [
        {"state": state, "process": k, "count": len(v), "min": min(v), "median": statistics.median(v)}
        | {"max": max(v), "total MiB": sum(v)}
        for k, v in kinds.items()
    ]


def startup(crucible: Crucible) -> dict[str, float]:
    """Launch → /v1/health 200 (polled every 10 ms), then SIGTERM → exit."""
    server = crucible.server
    began = time.perf_counter()
    server.start(wait=False)
    server.wait_ready(poll=0.01)
    ready, began = (time.perf_counter() - began) * 1000, time.perf_counter()
    server.stop()
    return {"ready ms": ready, "stop ms": (time.perf_counter() - began) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts and one run: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dirs and server logs")
    args = parser.parse_args()
    runs, n_ttr, n_rest = (1, 5, 40) if args.quick else (3, 20, 200)
    counts = (60, 80, 20, 32) if args.quick else (300, 800, 100, 160)
    plans = {"sim": (SIM50, counts[:2]), "local": (LOCAL, counts[2:])}
    out: dict[str, Any] = {"runs": runs, "latency": [], "latency_runs": {}, "memory": [], "to_running": []}
    with Run("foundation", args.keep) as run:
        for provider, (env, (seq, conc)) in plans.items():
            results: list[dict[str, Creates]] = []
            for r in range(runs):
                crucible = run.crucible(env, provider)
                results.append(phases(crucible, [("warm-up", 10, 1), ("1", seq, 1), ("16", conc, 16)]))
                if provider == "sim" and r == runs - 1:
                    out["memory"] += memory(crucible, f"after the last sim run ({10 + seq + conc} tasks)")
                crucible.cleanup()
            for clients in ("1", "16"):
                out["latency_runs"][f"{provider}/{clients}"] = each = [x[clients].summary() for x in results]
                codes = sum((x[clients].errors for x in results), Counter[str]())
                listed = ", ".join(f"{n} x {code}" for code, n in codes.items()) or "none"
                row = {"provider": provider, "clients": clients} | medians(each)
                out["latency"].append(row | {"errors, all runs": listed})
        for label, (provider, env) in TO_RUNNING.items():
            crucible = run.crucible(env, provider)
            out["to_running"].append({"provider": label} | to_running(crucible, n_ttr))
            crucible.cleanup()
        rest = run.crucible(SIM50)
        phases(rest, [("fill", n_rest, 16)])  # returns once all are complete
        out["memory"] += memory(rest, f"{n_rest} sim tasks at rest")
        rest.server.stop()
        starts = {"empty": [startup(run.crucible(SIM50, start=False)) for _ in range(runs)]}
        starts[f"{n_rest} tasks at rest"] = [startup(rest) for _ in range(runs)]
        out["startup"] = [{"data dir": k} | medians(v) for k, v in starts.items()]
        out["startup_runs"] = starts
    fresh = f"median of {runs} run(s), each on a fresh server after 10 warm-up creates"
    body = [
        f"## Create latency, POST …/tasks ({fresh}; complete between phases; sim step 50 ms)",
        records(out["latency"]),
        "Latency counts failed creates too (503 actors_unavailable = the bridge's 10 s ask timeout).",
        f"## Create → running ({n_ttr} tasks one at a time, each polled every 10 ms)",
        records(out["to_running"]),
        "## Memory, PSS MiB (kind of actor process from the process tree and open files)",
        records(out["memory"]),
        f"## Start-up: launch → /v1/health 200; stop: SIGTERM → exit (median of {runs})",
        records(out["startup"]),
    ]
    title = f"Crucible foundation benchmark{' (--quick)' if args.quick else ''}"
    report("foundation", title, "\n\n".join(body), out, run.leftovers)


if __name__ == "__main__":
    main()
