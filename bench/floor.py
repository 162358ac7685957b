"""Crucible's create against the floor of its own shape and against the DBOS peer, in one run (issue #8).

    PYTHONPATH=. .venv/bin/python bench/floor.py [--runs 3] [--quick]

Figure 1 of bench/vs_dbos.py (create latency: 1 client sequential, then 32 concurrent clients; creates/s),
measured on five servers, one at a time, each fresh, the order rotating per run:
  - floor, 1 hop: bench/floor_server.py --hops 1: the bridge → a ready actor → its task database (Crucible's
    code for each part), answered. No projection, no reservation, no fork, no provisioning.
  - floor, 2 hops: the same, then the projection's upsert in a second actor before the answer (DESIGN rule 6:
    listed as soon as the create has answered).
  - floor, no actor: --hops 0: the web process writes both (task database, projection row) on a thread, no
    actor on the create path: outside the shape (the mission's task actor is its database's only writer).
  - Crucible: the real server (sim provider, 50 ms steps: provisioning runs meanwhile, as in vs_dbos).
  - DBOS peer: bench/dbos_peer.py, as in vs_dbos.
Also the CPU time of every process of each system (server, actors) per task, created through to complete.
Prints a Markdown table (median of the runs) and writes bench/results/floor.json. Nothing is asserted.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import aiohttp
import psutil

from bench.vs_dbos import (
    QUICK,
    ROOT,
    Crucible,
    Peer,
    Plan,
    Progress,
    System,
    cell,
    kill_group,
    latency,
    leftovers,
    machine,
    median,
    on_sigterm,
    start_server,
)
from tests.server import free_port, make_repo

OUT = ROOT / "bench" / "results" / "floor.json"
SERVER = ROOT / "bench" / "floor_server.py"
FLOORS = {0: "floor, no actor", 1: "floor, 1 hop", 2: "floor, 2 hops"}
FLOOR_2 = FLOORS[2]


class Floor(System):
    """bench/floor_server.py: every acknowledged create is complete at once (nothing provisions)."""

    def __init__(self, base: Path, hops: int) -> None:
        self.label = FLOORS[hops]
        self.data, self.hops = base / "floor", hops
        self.port, self.actor_port = free_port(), free_port()
        self.log = base / "floor.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["--port", str(self.port), "--actor-port", str(self.actor_port), "--dir", str(self.data)]
        cmd = [sys.executable, str(SERVER), *args, "--hops", str(self.hops)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = start_server(cmd, ROOT, self.log, self.url + "/health", env)

    def kill9(self) -> None:
        raise NotImplementedError("the floor has no recovery figure")

    def cleanup(self) -> None:
        """SIGTERM (the server shuts its actor system down), then SIGKILL to the group and any actor left."""
        if not self.proc:
            return
        actors = self.processes()
        kill_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for proc in actors:  # thespian's daemonized actors leave the group
            if proc.is_running():
                proc.kill()
        self.proc = None

    def processes(self) -> list[psutil.Process]:
        """The server and its actors: every process whose command line names this data dir."""
        return [
            p for p in psutil.process_iter(["cmdline"]) if str(self.data) in " ".join(p.info["cmdline"] or [])
        ]

    def effects(self) -> Counter[tuple[str, str]]:
        return Counter()

    async def create(self, http: aiohttp.ClientSession) -> str:
        async with http.post("/tasks") as resp:
            return str((await resp.json())["id"])

    async def progress(self, http: aiohttp.ClientSession) -> Progress:
        async with http.get("/stats") as resp:
            return Progress((await resp.json())["SUCCESS"], 0)

    async def completed(self, http: aiohttp.ClientSession) -> set[str]:
        async with http.get("/done") as resp:
            return set(await resp.json())


def fresh(label: str, base: Path, repo: Path, plan: Plan) -> System:
    if label == Crucible.label:
        return Crucible(base, plan.latency_step_ms, repo)
    if label == Peer.label:
        return Peer(base, plan.latency_step_ms, ["--mode", "queue", "--concurrency", "32"])
    return Floor(base, hops=next(hops for hops, name in FLOORS.items() if name == label))


def measure(system: System, plan: Plan) -> dict[str, float]:
    """vs_dbos's latency figure, and the CPU time of every process of the system meanwhile (each task
    through to complete), per task. A process that exits before the end takes its CPU time with it."""
    before = cpu_seconds(system.processes())
    figures = asyncio.run(latency(system, plan))
    spent = sum(t - before.get(pid, 0.0) for pid, t in cpu_seconds(system.processes()).items())
    tasks = plan.warmup + plan.sequential + plan.concurrent
    return figures | {"CPU ms per task, all processes": spent * 1000 / tasks}


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seconds[proc.pid] = times.user + times.system
    return seconds


def table(figures: dict[str, dict[str, list[float]]], runs: int) -> str:
    labels = [*FLOORS.values(), Crucible.label, Peer.label]
    ratios = f"{FLOOR_2} ÷ peer | Crucible ÷ {FLOOR_2}"
    lines = [
        f"| figure (median of {runs} run(s)) | {' | '.join(labels)} | {ratios} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, by in figures.items():
        worst = "errors" in key
        cells = [cell(by.get(label), worst) for label in labels]
        ratios = ["—", "—"]
        if not worst and all(by.get(label) for label in labels):
            ratios = [
                f"{median(by[FLOOR_2]) / median(by[Peer.label]):.2f}x",
                f"{median(by[Crucible.label]) / median(by[FLOOR_2]):.2f}x",
            ]
        lines.append(f"| {key} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="vs_dbos's small counts: a smoke test")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    plan = replace(QUICK if args.quick else Plan(), runs=args.runs)
    base = Path(tempfile.mkdtemp(prefix="crucible-floor-"))
    repo = make_repo(base / "repo")
    labels = [*FLOORS.values(), Crucible.label, Peer.label]
    figures: dict[str, dict[str, list[float]]] = {}
    out: dict[str, object] = {"machine": machine(), "plan": {"runs": plan.runs, "figure": "vs_dbos latency"}}
    try:
        for run in range(plan.runs):
            for n, label in enumerate(labels[run % len(labels) :] + labels[: run % len(labels)]):
                print(f"run {run + 1}/{plan.runs}: {label}", file=sys.stderr, flush=True)
                (base / f"{run}-{n}").mkdir()
                system = fresh(label, base / f"{run}-{n}", repo, plan)
                try:
                    system.start()
                    for key, value in measure(system, plan).items():
                        figures.setdefault(key, {}).setdefault(label, []).append(value)
                finally:
                    system.cleanup()
                    shutil.rmtree(base / f"{run}-{n}", ignore_errors=True)
    finally:
        out["figures"] = figures
        out["leftover processes"] = leftovers(base)
        shutil.rmtree(base, ignore_errors=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(out, indent=2))
    print(
        f"# Crucible's create against the floor of its shape and the DBOS peer\n\nMachine: {out['machine']}\n"
    )
    print(table(figures, plan.runs))
    print(f"\nLeft-over processes: {out['leftover processes'] or 'none'}\nJSON: {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
