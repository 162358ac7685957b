"""Crucible against a DBOS Transact peer (bench/dbos_peer.py), same workload, same machine, same run.

    .venv/bin/pip install -e '.[test,bench]'   # once: dbos, pinned in pyproject.toml, beside Crucible's deps
    PYTHONPATH=. .venv/bin/python bench/vs_dbos.py [--quick] [--keep] [--peer-mode queue|start]
        [--peer-concurrency 32] [--recovery-step-ms 500] [--kill-after-s 0.5]

Prints a Markdown table; writes bench/results/vs_dbos.json (every run's figures, and whatever was measured
when a run fails). Full run: roughly 15-30 minutes on the 2-core machine (estimated from --quick rates);
`--quick` (small counts, one run): about 70 s. Nothing is asserted.

The workload: an HTTP POST durably creates a task and returns its id; four provisioning steps follow in the
background, each sleeping the step time and recording one side effect.
  - Crucible: a real server (tests/server.py: `python -m backend.cli serve` in its own process group, private
    ports and data dir), `sim` provider, CRUCIBLE_SIM_STEP_MS=<step>; a task is complete at status `running`.
    Side effects: `<data>/sim/effects.jsonl` (sandbox, agent, session; ensure-name records none).
  - Peer: bench/dbos_peer.py (aiohttp + DBOS, SQLite system database, queue concurrency 32, 0.1 s polling;
    its docstring says how it is tuned) in its own process group, private port and dir; a task is complete
    at workflow status SUCCESS. Side effects: rows (task_id, step) of its app database.
The two never run at once: each figure runs on Crucible, then on the peer (the order alternates per run),
each on a fresh server with an empty data dir; client and server share the machine's cores. Every process
started is ended (process groups, and Crucible's actor sessions) and the temp dir removed, on failure too
(SIGTERM and Ctrl-C included); the output lists any process still running from the temp dir.

Figures (each run `runs` times, 3 by default; the table gives the median):
  1. Create latency, POST → 201: 10 warm-up creates, then 200 creates by 1 client (sequential), then 640 by
     32 concurrent clients (one aiohttp session, 32 connections); p50/p99 and creates/s at 32 clients; every
     task completes between phases; 50 ms steps.
  2. Time until every task is complete: N creates by 32 clients, then the task list polled every 100 ms
     (Crucible: GET …/tasks?status=<busy>&limit=1, and when nothing is busy the `running` list, limit 1000;
     peer: GET /stats); timed from the first create. 250 x 0 ms steps, 250 x 50 ms, 1,000 x 50 ms.
  3. Recovery: 200 creates with 500 ms steps; 0.5 s after the last create is acknowledged, `kill -9` of
     the server's process group (Crucible: and of every actor process, which thespian daemonizes into a
     session of its own); restart on the same data dir; time to healthy and until all 200 are complete;
     tasks in flight at the kill; duplicate side effects ((task, step) recorded more than once); lost tasks
     (acknowledged creates never completed within the timeout). Read with care: the peer runs at most 32
     workflows at once (its queue), so 200 x 2 s of steps need >= 12.5 s however fast it recovers, while
     Crucible runs every task at once but acknowledges creates more slowly, so fewer of its 200 are still
     in flight at the kill (the table says how many). Crucible's sim provider adopts an effect whose marker
     file exists, so a re-run step leaves no duplicate; the peer's plain INSERT shows each re-run whose
     insert had committed before DBOS's checkpoint of the step, so its count depends on where the kill
     lands: the peer's first 32 workflows start together and their steps end in lockstep, and 0.5 s after the
     last create is close to the end of their first step (`--kill-after-s` moves it).
  4. Memory: RSS and PSS summed over every process of each system (Crucible: web process and its children,
     every actor process) right after the 1,000 tasks of figure 2 complete, and again 12 s later (Crucible's
     task actors passivate after 10 s at rest).
"""

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from schemas.status import AT_REST, TaskStatus
from tests.server import Server, free_port, make_repo, spawn_group

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "vs_dbos.json"
PEER = ROOT / "bench" / "dbos_peer.py"
CREATE = "/v1/workspaces/default/projects/demo/tasks"
BUSY = ",".join(status for status in TaskStatus if status not in AT_REST)
POLL_S = 0.1
IDLE_S = 12.0


@dataclass
class Plan:
    """Counts of one invocation; `--quick` shrinks them for a smoke test."""

    runs: int = 3
    warmup: int = 10
    sequential: int = 200
    concurrent: int = 640
    clients: int = 32
    latency_step_ms: int = 50
    to_complete: list[tuple[int, int]] = field(default_factory=lambda: [(250, 0), (250, 50), (1000, 50)])
    recovery_tasks: int = 200
    recovery_step_ms: int = 500
    kill_after_s: float = 0.5
    timeout_s: float = 600.0


QUICK = Plan(
    runs=1,
    warmup=5,
    sequential=10,
    concurrent=32,
    to_complete=[(20, 0), (20, 50), (50, 50)],
    recovery_tasks=20,
)


@dataclass
class Progress:
    """Where the tasks stand; `done` and `failed` are None while something is visibly still busy."""

    done: int | None
    failed: int | None = None


# ---- the two systems --------------------------------------------------------------------------------


class Refused(Exception):
    """A create answered with an error status."""


class System(ABC):
    """One system under test: a server process group on a private port and data dir, and its HTTP API."""

    label: str
    data: Path

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def kill9(self) -> None:
        """kill -9 of every process of the system, at once."""

    @abstractmethod
    def cleanup(self) -> None:
        """End every process of the system; safe to call twice and after a failure."""

    @abstractmethod
    def processes(self) -> list[psutil.Process]: ...

    @abstractmethod
    def effects(self) -> Counter[tuple[str, str]]:
        """Side effects recorded so far, by (task id, step)."""

    @abstractmethod
    async def create(self, http: aiohttp.ClientSession) -> str:
        """One durable create: the new task's id; Refused (its status and code) otherwise."""

    @abstractmethod
    async def progress(self, http: aiohttp.ClientSession) -> Progress: ...

    @abstractmethod
    async def completed(self, http: aiohttp.ClientSession) -> set[str]:
        """Ids of every complete task."""

    def restart(self) -> None:
        """Start again on the same data dir (after kill9)."""
        self.start()


class Crucible(System):
    label = "Crucible"

    def __init__(self, base: Path, step_ms: int, repo: Path) -> None:
        self.data, self.repo = base / "crucible", repo
        self.env = {"CRUCIBLE_SIM_STEP_MS": str(step_ms)}
        self.server = Server(self.data, "sim", self.env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.server.start()
        assert self.server.register(self.repo).status == 201, "project registration failed"

    def restart(self) -> None:
        self.server = Server(self.data, "sim", self.env)  # fresh ports; the project is in the data dir
        self.server.start()

    def kill9(self) -> None:
        self.server.kill9()

    def cleanup(self) -> None:
        self.server.cleanup()

    def processes(self) -> list[psutil.Process]:
        web = [psutil.Process(self.server.proc.pid)] if self.server.proc else []
        family = web + [child for proc in web for child in proc.children(recursive=True)]
        return list({p.pid: p for p in family + self.server.actor_processes()}.values())

    def effects(self) -> Counter[tuple[str, str]]:
        log = self.data / "sim" / "effects.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return Counter((row["task_id"], row["effect"]) for row in map(json.loads, lines))

    async def create(self, http: aiohttp.ClientSession) -> str:
        async with http.post(CREATE, json={"prompt": "Benchmark task\nnothing to do"}) as resp:
            body = await resp.json()
        if resp.status not in (200, 201):
            error = body.get("error", {})
            raise Refused(f"{resp.status} {error.get('code')}: {error.get('message')}")
        return str(body["id"])

    async def listed(self, http: aiohttp.ClientSession, status: str, limit: int = 1000) -> list[str]:
        """Ids of the project's tasks in `status` (a comma-separated list), following the cursor."""
        ids, cursor = [], ""
        while True:
            query = f"?project=demo&status={status}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            async with http.get(f"/v1/workspaces/default/tasks{query}") as resp:
                page = await resp.json()
            ids += [task["id"] for task in page["tasks"]]
            if limit == 1 or not page["next_cursor"]:
                return ids
            cursor = page["next_cursor"]

    async def progress(self, http: aiohttp.ClientSession) -> Progress:
        """One cheap query while anything is busy; the full count only once nothing is."""
        if await self.listed(http, BUSY, limit=1):
            return Progress(None)
        return Progress(len(await self.completed(http)), len(await self.listed(http, "error")))

    async def completed(self, http: aiohttp.ClientSession) -> set[str]:
        return set(await self.listed(http, TaskStatus.running))


class Peer(System):
    label = "DBOS peer"

    def __init__(self, base: Path, step_ms: int, options: list[str]) -> None:
        self.data, self.port = base / "peer", free_port()
        self.args = ["--dir", str(self.data), "--step-ms", str(step_ms), *options]
        self.log = base / "peer.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(PEER), "--port", str(self.port), *self.args]
        self.proc = start_server(cmd, self.data, self.log, self.url + "/health")

    def kill9(self) -> None:
        if self.proc:
            kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def cleanup(self) -> None:
        """SIGTERM to the group, SIGKILL after 10 s, and SIGKILL to the group anyway for any straggler."""
        if not self.proc:
            return
        kill_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        kill_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def processes(self) -> list[psutil.Process]:
        if not self.proc:
            return []
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def effects(self) -> Counter[tuple[str, str]]:
        with sqlite3.connect(f"file:{self.data / 'app.sqlite'}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT task_id, step, count(*) FROM effects GROUP BY task_id, step")
            return Counter({(task, step): n for task, step, n in rows})

    async def create(self, http: aiohttp.ClientSession) -> str:
        async with http.post("/tasks") as resp:
            body = await resp.json()
        if resp.status != 201:
            raise Refused(f"{resp.status} {body}")
        return str(body["id"])

    async def progress(self, http: aiohttp.ClientSession) -> Progress:
        async with http.get("/stats") as resp:
            counts: dict[str, int] = await resp.json()
        busy = sum(n for status, n in counts.items() if status in ("ENQUEUED", "PENDING", "DELAYED"))
        done = counts.get("SUCCESS", 0)
        return Progress(None) if busy else Progress(done, sum(counts.values()) - done)

    async def completed(self, http: aiohttp.ClientSession) -> set[str]:
        async with http.get("/done") as resp:
            return set(await resp.json())


def kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def start_server(
    cmd: list[str], cwd: Path, log: Path, health: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A server in its own process group (so a kill -9 takes it whole), logging to `log`, once healthy."""
    proc = spawn_group(cmd, cwd, env, log)
    wait_healthy(health, lambda: proc.poll() is None, log)
    return proc


def wait_healthy(url: str, alive: Callable[[], bool], log: Path, timeout: float = 60.0) -> None:
    """Poll a health URL every 20 ms (blocking: nothing else runs meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert alive(), f"server exited: {log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"not healthy after {timeout} s: {log.read_text()[-2000:]}")


# ---- load and waiting ---------------------------------------------------------------------------------


@dataclass
class Creates:
    """The outcome of a batch of creates: ids acknowledged, latency of each attempt, failures, wall time."""

    ids: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0


def session(system: System, clients: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=clients)
    return aiohttp.ClientSession(system.url, connector=connector, timeout=aiohttp.ClientTimeout(total=120))


async def create_many(system: System, http: aiohttp.ClientSession, total: int, clients: int) -> Creates:
    """`clients` coroutines share `total` creates; each create's latency is timed on its own."""
    out, left = Creates(), iter(range(total))

    async def client() -> None:
        for _ in left:
            began = time.perf_counter()
            try:
                out.ids.append(await system.create(http))
            except (aiohttp.ClientError, TimeoutError, Refused) as exc:
                failure = f"{type(exc).__name__}: {exc}"
                out.errors[failure] += 1
                print(f"  {system.label} create failed: {failure}", file=sys.stderr, flush=True)
            out.ms.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    out.wall_s = time.perf_counter() - began
    return out


async def wait_complete(
    system: System, http: aiohttp.ClientSession, expected: int, timeout: float
) -> Progress:
    """Poll every 100 ms until nothing is busy and `expected` tasks are complete or failed, or time runs out;
    the last progress seen (done None: timed out while busy)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = await system.progress(http)
        settled = seen.done is not None and seen.done + (seen.failed or 0) >= expected
        if settled or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(POLL_S)


def quantile(ms: list[float], q: int) -> float:
    return statistics.quantiles(ms, n=100, method="inclusive")[q - 1] if len(ms) > 1 else ms[0]


# ---- the figures, one run on one system ------------------------------------------------------------------


async def latency(system: System, plan: Plan) -> dict[str, float]:
    async with session(system, plan.clients) as http:
        total = 0
        figures: dict[str, float] = {}
        for name, count, clients in (
            ("warm-up", plan.warmup, 1),
            ("1", plan.sequential, 1),
            (str(plan.clients), plan.concurrent, plan.clients),
        ):
            batch = await create_many(system, http, count, clients)
            total += len(batch.ids)
            if name != "warm-up":
                figures |= {f"create p50 ms, {name} client(s)": quantile(batch.ms, 50)}
                figures |= {f"create p99 ms, {name} client(s)": quantile(batch.ms, 99)}
                figures |= {f"create errors, {name} client(s)": batch.errors.total()}
            if name == str(plan.clients):
                figures[f"creates/s, {name} clients"] = len(batch.ids) / batch.wall_s
            await wait_complete(system, http, total, plan.timeout_s)
    return figures


async def to_complete(system: System, plan: Plan, n: int, step_ms: int) -> dict[str, float]:
    key = f"{n} tasks x {step_ms} ms"
    async with session(system, plan.clients) as http:
        began = time.perf_counter()
        batch = await create_many(system, http, n, plan.clients)
        created = time.perf_counter() - began
        seen = await wait_complete(system, http, len(batch.ids), plan.timeout_s)
        took = time.perf_counter() - began
    return {
        f"{key}: all complete s": took if seen.done == len(batch.ids) else float("nan"),
        f"{key}: creates acknowledged s": created,
        f"{key}: create errors": batch.errors.total(),
        f"{key}: not complete": len(batch.ids) - (seen.done or 0),
    }


def memory(system: System, when: str) -> dict[str, float]:
    """RSS and PSS (MiB) summed over the system's processes; a process gone meanwhile is skipped."""
    rss = pss = 0.0
    procs = system.processes()
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + info.rss / 2**20, pss + info.pss / 2**20
    return {f"RSS MiB, {when}": rss, f"PSS MiB, {when}": pss, f"processes, {when}": len(procs)}


async def recovery(system: System, plan: Plan) -> dict[str, float]:
    async with session(system, plan.clients) as http:
        batch = await create_many(system, http, plan.recovery_tasks, plan.clients)
        await asyncio.sleep(plan.kill_after_s)
        in_flight = len(batch.ids) - len(await system.completed(http))
    system.kill9()
    began = time.perf_counter()
    system.restart()
    healthy = time.perf_counter() - began
    async with session(system, plan.clients) as http:
        seen = await wait_complete(system, http, len(batch.ids), plan.timeout_s)
        took = time.perf_counter() - began
        done = await system.completed(http)
    dups = sum(1 for n in system.effects().values() if n > 1)
    return {
        "recovery: restart → healthy s": healthy,
        "recovery: restart → all complete s": took if seen.done == len(batch.ids) else float("nan"),
        "recovery: tasks in flight at the kill": in_flight,
        "recovery: duplicate side effects": dups,
        "recovery: lost tasks": len(set(batch.ids) - done),
        "recovery: create errors": batch.errors.total(),
    }


# ---- orchestration -----------------------------------------------------------------------------------------


class Bench:
    """Every run of every figure, both systems; remembers each system it starts so all can be ended."""

    def __init__(self, plan: Plan, base: Path, peer_options: list[str], keep: bool) -> None:
        self.plan, self.base, self.peer_options, self.keep = plan, base, peer_options, keep
        self.repo = base / "repo"
        self.started: list[System] = []
        self.figures: dict[str, dict[str, list[float]]] = {}
        self.counter = 0

    def fresh(self, label: str, step_ms: int) -> System:
        self.counter += 1
        base = self.base / f"{self.counter:03d}-{label.split()[0].lower()}"
        base.mkdir()
        system: System = (
            Crucible(base, step_ms, self.repo)
            if label == Crucible.label
            else Peer(base, step_ms, self.peer_options)
        )
        self.started.append(system)
        system.start()
        return system

    def record(self, label: str, figures: dict[str, float]) -> None:
        for key, value in figures.items():
            self.figures.setdefault(key, {}).setdefault(label, []).append(value)

    def each(self, run: int, step_ms: int, measure: Callable[[System], dict[str, float]]) -> None:
        """Measure on a fresh Crucible and a fresh peer, one after the other (order alternating per run),
        each ended and its data dir removed before the next starts."""
        labels = [Crucible.label, Peer.label]
        for label in labels if run % 2 == 0 else labels[::-1]:
            system = self.fresh(label, step_ms)
            try:
                self.record(label, measure(system))
            finally:
                system.cleanup()
                if not self.keep:
                    shutil.rmtree(system.data, ignore_errors=True)

    def run(self) -> None:
        plan = self.plan
        make_repo(self.repo)  # the project Crucible registers (the sim provider never clones it)
        for run in range(plan.runs):
            print(f"run {run + 1}/{plan.runs}", file=sys.stderr, flush=True)
            self.each(run, plan.latency_step_ms, lambda s: asyncio.run(latency(s, plan)))
            for n, step_ms in plan.to_complete:
                biggest = (n, step_ms) == max(plan.to_complete)  # memory is measured after the biggest
                self.each(run, step_ms, partial(self.complete, n=n, step_ms=step_ms, measure_memory=biggest))
            self.each(run, plan.recovery_step_ms, lambda s: asyncio.run(recovery(s, plan)))

    def complete(self, system: System, n: int, step_ms: int, measure_memory: bool) -> dict[str, float]:
        figures = asyncio.run(to_complete(system, self.plan, n, step_ms))
        if measure_memory:
            figures |= memory(system, f"{n} tasks just complete")
            time.sleep(IDLE_S)
            figures |= memory(system, f"{IDLE_S:.0f} s later")
        return figures

    def cleanup(self) -> None:
        for system in self.started:
            try:
                system.cleanup()
            except Exception as exc:  # keep ending the others
                print(f"cleanup of {system.label} failed: {exc!r}", file=sys.stderr)


# ---- report ----------------------------------------------------------------------------------------------

CORRECTNESS = ("duplicate", "lost", "errors", "not complete", "in flight", "processes")


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # a NaN is a run that did not complete: reported apart
    return statistics.median(clean) if clean else float("nan")


def cell(values: list[float] | None, worst: bool) -> str:
    if not values:
        return "—"
    mid = median(values)
    text = f"{mid:.0f}" if worst or mid >= 100 else f"{mid:.2f}" if mid < 10 else f"{mid:.1f}"
    if worst and len(values) > 1:
        text += f" (max {max(values):.0f})"
    failed = sum(1 for v in values if v != v)
    return text + (f" ({failed} run(s) timed out)" if failed else "")


def ratio(ours: list[float] | None, theirs: list[float] | None) -> str:
    if not ours or not theirs:
        return "—"
    a, b = median(ours), median(theirs)
    return f"{a / b:.2f}x" if b and a == a and b == b else "—"


def table(figures: dict[str, dict[str, list[float]]], runs: int) -> str:
    lines = [
        f"| figure (median of {runs} run(s)) | Crucible | DBOS peer | Crucible ÷ peer |",
        "|---|---|---|---|",
    ]
    for key, by in figures.items():
        worst = any(word in key for word in CORRECTNESS)
        ours, theirs = by.get(Crucible.label), by.get(Peer.label)
        shown = "—" if worst else ratio(ours, theirs)
        lines.append(f"| {key} | {cell(ours, worst)} | {cell(theirs, worst)} | {shown} |")
    return "\n".join(lines)


def leftovers(base: Path) -> list[str]:
    """Processes still running from our temp dir (servers, actors, peers), as "pid cmdline"."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmd, cwd = " ".join(proc.info["cmdline"] or []), proc.info["cwd"] or ""
        if str(base) in cmd + cwd and proc.pid != os.getpid():
            found.append(f"{proc.pid} {cmd[:120]}")
    return found


def machine() -> str:
    cpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0].strip(" \t:")
    return f"nproc {psutil.cpu_count()}, {cpu}, Python {platform.python_version()}"


def on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks end every process we started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts and one run: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dirs and server logs")
    parser.add_argument("--peer-mode", choices=("queue", "start"), default="queue", help="see dbos_peer.py")
    parser.add_argument("--peer-concurrency", type=int, default=32, help="the peer's queue concurrency")
    parser.add_argument("--recovery-step-ms", type=int, default=500, help="step time of figure 3")
    parser.add_argument("--kill-after-s", type=float, default=0.5, help="figure 3: last create → kill -9")
    args = parser.parse_args()
    if importlib.util.find_spec("dbos") is None:
        sys.exit("dbos is not installed in this interpreter: .venv/bin/pip install -e '.[test,bench]'")
    signal.signal(signal.SIGTERM, on_sigterm)
    plan = QUICK if args.quick else Plan()
    plan = replace(plan, recovery_step_ms=args.recovery_step_ms, kill_after_s=args.kill_after_s)
    peer = ["--mode", args.peer_mode, "--concurrency", str(args.peer_concurrency)]
    out: dict[str, Any] = {"machine": machine(), "load average at start": psutil.getloadavg()}
    out |= {"plan": asdict(plan), "dbos": version("dbos"), "peer options": peer}
    base = Path(tempfile.mkdtemp(prefix="crucible-vs-dbos-"))
    bench = Bench(plan, base, peer, args.keep)
    try:
        bench.run()
    except BaseException as exc:
        out["failed"] = repr(exc)
        raise
    finally:
        bench.cleanup()
        out["leftover processes"] = leftovers(base)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        out["figures"] = bench.figures
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(out, indent=2))
    report(out, plan, args.quick)
    print(f"JSON: {OUT.relative_to(ROOT)}" + (f"; data kept in {base}" if args.keep else ""))


def report(out: dict[str, Any], plan: Plan, quick: bool) -> None:
    print(f"# Crucible vs DBOS Transact{' (--quick)' if quick else ''}\n")
    print(f"Machine: {out['machine']}; load {out['load average at start']} at start; clients share it.")
    print(f"Peer: dbos {out['dbos']}, {' '.join(out['peer options'])}, SQLite system database.\n")
    print(table(out["figures"], plan.runs))
    print("\nCounts (errors, duplicates, lost, in flight) show the median and the worst run.")
    print("Ratios below 1 favour Crucible for times and memory, above 1 for creates/s. RSS counts pages")
    print("shared by Crucible's forked processes once per process; PSS shares them out.")
    print(f"\nLeft-over processes: {out['leftover processes'] or 'none'}")


if __name__ == "__main__":
    main()
