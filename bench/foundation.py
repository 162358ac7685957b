"""Foundation benchmark: what a create costs, how fast a task provisions, what it weighs, how fast we start.

Every figure comes from a real server (tests/server.py: subprocess group, private ports, temp data dir):
  1. Create latency over HTTP: 1 client sequential, then 16 concurrent (one aiohttp session, limit 16), for
     `sim` (CRUCIBLE_SIM_STEP_MS=50) and `local` (real git checkouts and sandbox-agent processes); 10 warm-up
     creates, tasks settled at rest between phases; median of 3 runs, each on a fresh server.
  2. Create → `running`, tasks one at a time, GET /v1/tasks/{id} every 10 ms (local; sim with step 0).
  3. Memory: PSS by actor kind and of the web process, after the last sim run and with 200 tasks at rest.
  4. Start-up: launch → GET /v1/health 200 with an empty data dir and the 200-task one (and SIGTERM → exit).

Run: cd /work/main && PYTHONPATH=. .venv/bin/python bench/foundation.py [--quick] [--keep]  (full: ~35 min)
Prints Markdown tables; writes bench/results/foundation.json (per-run figures too). Nothing is asserted.
"""

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from schemas.status import AT_REST, TaskStatus
from tests.server import Server, make_repo

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "foundation.json"
CREATE = "/v1/workspaces/default/projects/demo/tasks"
BUSY = ",".join(status for status in TaskStatus if status not in AT_REST)
SIM50 = {"CRUCIBLE_SIM_STEP_MS": "50"}
# Every local task of a run keeps its agent (none is archived): beyond the live-agent cap (32) a task waits
# in init_ensure_agent for good, and a phase would never settle. The cap is raised to hold them all.
LOCAL = {"CRUCIBLE_MAX_LIVE_AGENTS": "400"}
TO_RUNNING = {"local": ("local", {}), "sim, step 0": ("sim", {"CRUCIBLE_SIM_STEP_MS": "0"})}
STARTED: list[Server] = []  # every server started, for the final cleanup


def summary(ms: list[float], errors: int, wall_s: float | None = None) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    row = {"n": len(ms), "p50 ms": cuts[49], "p99 ms": cuts[98], "mean ms": statistics.fmean(ms)}
    return {**row, **({"creates/s": len(ms) / wall_s} if wall_s else {}), "errors": errors}


def median_run(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k, v in runs[0].items() if not isinstance(v, dict)}


def table(title: str, rows: list[dict[str, Any]]) -> None:
    rows = [{k: f"{v:.1f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    print(f"\n## {title}\n\n| {' | '.join(rows[0])} |\n|{'---|' * len(rows[0])}")
    print("\n".join(f"| {' | '.join(str(r.get(k, '')) for k in rows[0])} |" for r in rows))


@contextmanager
def serving(data: Path, provider: str, env: dict[str, str], repo: Path) -> Iterator[Server]:
    server = Server(data, provider, env)
    STARTED.append(server)
    try:
        server.start()
        assert server.register(repo).status == 201, "project registration failed"
        yield server
    finally:
        server.cleanup()


async def create(http: aiohttp.ClientSession, sink: list[float], errors: Counter[str]) -> str | None:
    """One create; its latency goes to `sink`, a failure's "status code" to `errors`."""
    began = time.perf_counter()
    async with http.post(CREATE, json={"prompt": "Benchmark task\nnothing to do"}) as resp:
        body = await resp.json()
    sink.append((time.perf_counter() - began) * 1000)
    errors.update([] if resp.status == 201 else [f"{resp.status} {body['error']['code']}"])
    return body["id"] if resp.status == 201 else None


async def settle(http: aiohttp.ClientSession, timeout_s: int = 600) -> None:
    """Wait until no task of the project is busy (not at rest), polling 5 times a second."""
    for _ in range(timeout_s * 5):
        async with http.get(f"/v1/workspaces/default/tasks?project=demo&status={BUSY}&limit=1") as resp:
            if not (await resp.json())["tasks"]:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("tasks did not settle")


async def load(port: int, phases: dict[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """Phases in order, name → (creates, clients), over one keep-alive session of at most 16 connections;
    `clients` coroutines share the creates. Every task settles at rest after each phase."""
    results = {}
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as http:
        for name, (total, clients) in phases.items():
            ms: list[float] = []
            errors: Counter[str] = Counter()
            left = iter(range(total))

            async def client() -> None:
                for _ in left:  # noqa: B023
                    await create(http, ms, errors)  # noqa: B023

            began = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            wall = time.perf_counter() - began
            results[name] = summary(ms, errors.total(), wall) | {"error codes": dict(errors)}
            await settle(http)
    return results


async def to_running(port: int, n: int) -> dict[str, float]:
    ms: list[float] = []
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        for _ in range(n):
            began, status = time.perf_counter(), "?"
            task_id = await create(http, [], Counter())
            while task_id and status not in AT_REST:
                async with http.get(f"/v1/tasks/{task_id}") as resp:
                    status = (await resp.json())["status"]
                await asyncio.sleep(0 if status in AT_REST else 0.01)
            if status == "running":
                ms.append((time.perf_counter() - began) * 1000)
        return summary(ms, n - len(ms))


def kind_of(proc: psutil.Process, depth: int) -> str:
    """Admin → {Logger, Workspace → Project → {Mirror, pool, Task…}}; only task actors hold tasks/ files."""
    files = " ".join(f.path for f in proc.open_files())
    if depth == 1:
        return "workspace" if "workspace.sqlite" in files else "logger"
    return ["admin", "", "project", "task" if "/tasks/" in files else "mirror/pool"][min(depth, 3)]


def memory(server: Server, state: str) -> list[dict[str, Any]]:
    """PSS (MiB) by actor kind, and of the web process."""
    procs = {p.pid: p for p in server.actor_processes()}
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
    assert server.proc
    kinds["web"] = [psutil.Process(server.proc.pid).memory_full_info().pss / 2**20]
    return [
        {"state": state, "process": k, "count": len(v), "min": min(v), "median": statistics.median(v)}
        | {"max": max(v), "total MiB": sum(v)}
        for k, v in kinds.items()
    ]


def startup(data: Path) -> dict[str, float]:
    server = Server(data, "sim", SIM50)
    STARTED.append(server)
    try:
        began = time.perf_counter()
        server.start(wait=False)
        while True:
            assert server.proc and server.proc.poll() is None, f"server exited, see {server.log}"
            try:
                if server.get("/v1/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.01)
        ready, began = (time.perf_counter() - began) * 1000, time.perf_counter()
        server.stop()
        return {"ready ms": ready, "stop ms": (time.perf_counter() - began) * 1000}
    finally:
        server.cleanup()


def leftovers(base: Path) -> list[str]:
    """Processes still running from our data dirs (servers, actors, agents), as "pid cmdline"."""
    procs = psutil.process_iter(["cmdline", "cwd"])
    seen = {p.pid: (" ".join(p.info["cmdline"] or []), p.info["cwd"] or "") for p in procs}
    return [f"{pid} {cmd[:120]}" for pid, (cmd, cwd) in seen.items() if str(base) in cmd + cwd]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts and one run: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dirs and server logs")
    args = parser.parse_args()
    runs, n_ttr, n_rest = (1, 5, 40) if args.quick else (3, 20, 200)
    counts = (60, 80, 20, 32) if args.quick else (300, 800, 100, 160)
    plans = {"sim": (SIM50, counts[:2]), "local": (LOCAL, counts[2:])}
    cpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0].strip(" \t:")
    machine = f"nproc {psutil.cpu_count()}, {cpu}, Python {platform.python_version()}"
    out: defaultdict[str, Any] = defaultdict(list, machine=machine, runs=runs, latency_runs={})
    out["load average at start"] = psutil.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="crucible-bench-"))
    try:
        repo = make_repo(base / "repo")
        for provider, (env, (seq, conc)) in plans.items():
            results = []
            for r in range(runs):
                with serving(base / f"{provider}-{r}", provider, env, repo) as server:
                    phases = {"warm-up": (10, 1), "1": (seq, 1), "16": (conc, 16)}
                    results.append(asyncio.run(load(server.port, phases)))
                    if provider == "sim" and r == runs - 1:
                        out["memory"] += memory(server, f"after the last sim run ({10 + seq + conc} tasks)")
            for clients in ("1", "16"):
                out["latency_runs"][f"{provider}/{clients}"] = each = [x[clients] for x in results]
                codes = sum((Counter(run["error codes"]) for run in each), Counter[str]())
                listed = ", ".join(f"{n} x {code}" for code, n in codes.items()) or "none"
                out["latency"].append({"provider": provider, "clients": clients} | median_run(each))
                out["latency"][-1]["errors, all runs"] = listed
        for label, (provider, env) in TO_RUNNING.items():
            with serving(base / f"ttr-{provider}", provider, env, repo) as server:
                out["to_running"].append({"provider": label} | asyncio.run(to_running(server.port, n_ttr)))
        with serving(base / "rest", "sim", SIM50, repo) as server:
            asyncio.run(load(server.port, {"fill": (n_rest, 16)}))  # returns once all are at rest
            out["memory"] += memory(server, f"{n_rest} sim tasks at rest")
            server.stop()
        starts = {"empty": [startup(base / f"empty-{i}") for i in range(runs)]}
        starts[f"{n_rest} tasks at rest"] = [startup(base / "rest") for _ in range(runs)]
        out["startup"] = [{"data dir": k} | median_run(v) for k, v in starts.items()]
        out["startup_runs"] = starts
    finally:
        for server in STARTED:
            server.cleanup()
        out["leftover_processes"] = leftovers(base)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2))
    print(f"# Crucible foundation benchmark{' (--quick)' if args.quick else ''}\n")
    print(f"Machine: {machine}; load {out['load average at start']} at start; client and servers share it")
    fresh = f"median of {runs} run(s), each on a fresh server after 10 warm-up creates"
    table(f"Create latency, POST …/tasks ({fresh}; settled between phases; sim step 50 ms)", out["latency"])
    print("\nLatency counts failed creates too (503 actors_unavailable = the bridge's 10 s ask timeout).")
    table(f"Create → running ({n_ttr} tasks one at a time, each polled every 10 ms)", out["to_running"])
    table("Memory, PSS MiB (actor kind from the process tree and open files)", out["memory"])
    table(f"Start-up: launch → /v1/health 200; stop: SIGTERM → exit (median of {runs})", out["startup"])
    print(f"\nLeft-over processes (ps, by our temp dir): {out['leftover_processes'] or 'none'}")
    print(f"JSON: {OUT.relative_to(ROOT)}" + (f"; data kept in {base}" if args.keep else ""))


if __name__ == "__main__":
    main()
