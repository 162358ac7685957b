"""The systems a benchmark measures, each a process group on private ports and a private data dir, every one
of its processes ended at the end; and `Run`, one invocation's temp dir, which ends them all even on failure.

A Crucible server is tests/server.py's `Server`, wrapped rather than copied: benches start servers exactly as
the integration tests do, and a fix there reaches both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import psutil

from actors.providers.sim import effects_log
from bench.harness.report import ROOT
from schemas.status import AT_REST, TaskStatus
from tests.helpers.metrics import live_actors
from tests.server import RESULT_KINDS as RESULT_KINDS
from tests.server import Server, make_repo
from tests.server import Worker as Worker
from tests.server import free_port as free_port
from tests.server import spawn_group as spawn_group
from tests.server import wait_until as wait_until

TASKS = "/v1/workspaces/default/tasks"
BUSY = ",".join(status for status in TaskStatus if status not in AT_REST)


def kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def naming(text: str) -> list[psutil.Process]:
    """Processes (this one aside) whose command line or working directory holds `text`, a private dir:
    thespian daemonizes actors out of their server's process group, but they keep its command line."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        if text in " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or ""):
            found.append(proc)
    return [p for p in found if p.pid != os.getpid()]


def memory(procs: Sequence[psutil.Process], when: str = "") -> dict[str, float]:
    """RSS and PSS (MiB) summed over the processes, and their count; a process gone meanwhile is skipped.
    RSS counts the pages that forked processes share once per process; PSS shares them out."""
    rss = pss = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss, pss = rss + info.rss / 2**20, pss + info.pss / 2**20
    suffix = f", {when}" if when else ""
    return {f"RSS MiB{suffix}": rss, f"PSS MiB{suffix}": pss, f"processes{suffix}": len(procs)}


def cpu_seconds(procs: Sequence[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds of each process so far, by pid."""
    seconds = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
    return seconds


def sim_effects(data: Path) -> Counter[tuple[str, str]]:
    """The sim provider's side effects in a data dir (a server's or a worker's), by (task, effect)."""
    log = effects_log(data)
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter((row["task_id"], row["effect"]) for row in map(json.loads, lines))


@dataclass
class Progress:
    """Where the tasks stand; `done` and `failed` are None while something is visibly still busy."""

    done: int | None
    failed: int | None = None


class Refused(Exception):
    """A create answered with an error status."""


class System:
    """One system under test: a server on a private port and data dir, and its HTTP API (each subclass says
    how a task is created, when it is complete, and which side effects it recorded)."""

    label: str
    data: Path

    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        """Start on its data dir and return once it answers."""
        raise NotImplementedError

    def restart(self) -> None:
        """Start again on the same data dir (after kill9)."""
        raise NotImplementedError

    def kill9(self) -> None:
        """kill -9 of every process of the system, at once."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """End every process of the system; safe to call twice and after a failure."""
        raise NotImplementedError

    def processes(self) -> list[psutil.Process]:
        raise NotImplementedError

    def effects(self) -> Counter[tuple[str, str]]:
        """Side effects recorded so far, by (task id, step)."""
        return Counter()

    async def create(self, http: aiohttp.ClientSession) -> str:
        """One durable create: the new task's id; Refused (its status and error) otherwise."""
        raise NotImplementedError

    def progress(self) -> Progress:
        raise NotImplementedError

    def completed(self) -> set[str]:
        """Ids of every complete task."""
        raise NotImplementedError

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.load(resp)


class Crucible(System):
    """A real server (tests/server.py: `crucible serve` in its own process group, private ports and data dir),
    project `demo` registered from a fresh git repo (the sim provider never clones it). A task is complete
    at `running`; the sim provider's side effects are in <data>/sim/effects.jsonl."""

    label = "Crucible"

    def __init__(self, data: Path, env: dict[str, str] | None = None, provider: str = "sim") -> None:
        self.data, self.env, self.provider = data, env or {}, provider
        self.server = Server(data, provider, self.env)
        self.repo = data.parent / f"{data.name}-repo"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.server.start()
        if not self.repo.exists():
            make_repo(self.repo)
            assert self.server.register(self.repo).status == 201, "project registration failed"

    def restart(self) -> None:
        """Fresh ports (the old ones may linger after a kill), the same data dir (the project is in it);
        `env` as it is now."""
        self.server = Server(self.data, self.provider, self.env)
        self.server.start()

    def kill9(self) -> None:
        self.server.kill9()

    def cleanup(self) -> None:
        self.server.cleanup()

    def processes(self) -> list[psutil.Process]:
        """The web process, its children and every actor process."""
        proc = self.server.proc
        web = [psutil.Process(proc.pid)] if proc and proc.poll() is None else []
        family = web + [child for p in web for child in p.children(recursive=True)]
        return list({p.pid: p for p in family + self.server.actor_processes()}.values())

    def effects(self) -> Counter[tuple[str, str]]:
        return sim_effects(self.data)

    async def create(self, http: aiohttp.ClientSession, project: str = "demo") -> str:
        path = f"/v1/workspaces/default/projects/{project}/tasks"
        async with http.post(path, json={"prompt": "Benchmark task\nnothing to do"}) as resp:
            body = await resp.json()
        if resp.status not in (200, 201):
            error = body.get("error", {})
            raise Refused(f"{resp.status} {error.get('code')}: {error.get('message')}")
        return str(body["id"])

    def tasks(self, query: str = "") -> list[dict[str, Any]]:
        """Every task of the workspace matching `query` (e.g. "status=running"), following the cursor."""
        found, cursor = [], ""
        while True:
            page = self.get(f"{TASKS}?limit=1000&{query}" + (f"&cursor={cursor}" if cursor else ""))
            found += page["tasks"]
            if not (cursor := page["next_cursor"]):
                return found

    def progress(self) -> Progress:
        """One cheap query while anything is busy; the full count only once nothing is."""
        if self.get(f"{TASKS}?project=demo&status={BUSY}&limit=1")["tasks"]:
            return Progress(None)
        return Progress(len(self.completed()), len(self.tasks("project=demo&status=error")))

    def completed(self) -> set[str]:
        return {task["id"] for task in self.tasks("project=demo&status=running")}

    def at_rest(self) -> bool:
        """No task holds an actor: every one has gone after its idle timeout."""
        return live_actors(self.server)["task"] == 0


class Script(System):
    """A bench server script (dbos_peer.py, floor_server.py) in its own process group, on a private port and
    data dir, serving POST /tasks → 201 {"id"}, GET /stats {status: count}, GET /done [ids], GET /health.
    Any actor it forks keeps the data dir in its command line: that is how cleanup finds it."""

    def __init__(self, label: str, script: str, data: Path, args: Sequence[str] = ()) -> None:
        self.label, self.data, self.port = label, data, free_port()
        self.cmd = [sys.executable, str(ROOT / "bench" / script), "--port", str(self.port)]
        self.cmd += ["--dir", str(data), *args]
        self.log = data.parent / f"{data.name}.log"
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = spawn_group(self.cmd, self.data, {**os.environ, "PYTHONPATH": str(ROOT)}, self.log)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            with contextlib.suppress(OSError):
                self.get("/health")
                return
            assert time.monotonic() < deadline, f"not healthy in 60 s: {self.log.read_text()[-2000:]}"
            time.sleep(0.02)

    def restart(self) -> None:
        self.start()

    def kill9(self) -> None:
        victims = self.processes()
        if self.proc:
            kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(victims, timeout=10)

    def cleanup(self) -> None:
        """SIGTERM to the group (a clean stop), then kill -9 of the group and of anything naming the dir."""
        if self.proc:
            kill_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                self.proc.wait(15)
        self.kill9()

    def processes(self) -> list[psutil.Process]:
        alive = self.proc and self.proc.poll() is None
        root = [psutil.Process(self.proc.pid)] if alive else []
        family = root + [child for p in root for child in p.children(recursive=True)]
        return list({p.pid: p for p in family + naming(str(self.data))}.values())

    def effects(self) -> Counter[tuple[str, str]]:
        """dbos_peer.py's app database, one row per step run; the floor records none."""
        path = self.data / "app.sqlite"
        if not path.exists():
            return Counter()
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT task_id, step, count(*) FROM effects GROUP BY task_id, step")
            return Counter({(task, step): n for task, step, n in rows})

    async def create(self, http: aiohttp.ClientSession) -> str:
        async with http.post("/tasks") as resp:
            body = await resp.json()
        if resp.status != 201:
            raise Refused(f"{resp.status} {body}")
        return str(body["id"])

    def progress(self) -> Progress:
        counts: dict[str, int] = self.get("/stats")
        busy = sum(n for status, n in counts.items() if status in ("ENQUEUED", "PENDING", "DELAYED"))
        done = counts.get("SUCCESS", 0)
        return Progress(None) if busy else Progress(done, sum(counts.values()) - done)

    def completed(self) -> set[str]:
        return set(self.get("/done"))


def _sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that every `finally` runs and ends what it started


class Run:
    """One invocation's private temp dir and every system started in it. Leaving it (on an exception, SIGTERM
    and Ctrl-C included) ends each system, kills and lists any process still naming the dir, and removes the
    dir unless `keep`. `measure` runs a figure on a fresh system and keeps its figures by system, run by run.
    """

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name, self.keep = name, keep
        self.systems: list[System] = []
        self.figures: dict[str, dict[str, list[float]]] = {}
        self.leftovers: list[str] = []
        self.made = 0

    def __enter__(self) -> Run:
        self.base = Path(tempfile.mkdtemp(prefix=f"crucible-{self.name}-"))
        signal.signal(signal.SIGTERM, _sigterm)
        return self

    def dir(self, name: str) -> Path:
        """A new dir for one system (its data, repo and log), numbered in order."""
        self.made += 1
        path = self.base / f"{self.made:03d}-{name.split()[0].lower().strip(',')}"
        path.mkdir()
        return path

    def add(self, system: System) -> System:
        """Track a system (not started): it is ended when the run is left."""
        self.systems.append(system)
        return system

    def start(self, system: System) -> System:
        self.add(system).start()
        return system

    def crucible(
        self, env: dict[str, str] | None = None, provider: str = "sim", start: bool = True
    ) -> Crucible:
        """A Crucible server in a dir of its own, started (project `demo` registered) unless not `start`."""
        system = Crucible(self.dir(provider) / "data", env, provider)
        self.add(system)
        if start:
            system.start()
        return system

    def measure(self, system: System, figure: Callable[[System], dict[str, float]]) -> None:
        """Start `system`, record `figure(system)` under its label, end it and remove its dir (unless
        `keep`): each figure on a fresh system, never two systems at once."""
        try:
            for key, value in figure(self.start(system)).items():
                self.figures.setdefault(key, {}).setdefault(system.label, []).append(value)
        finally:
            system.cleanup()
            if not self.keep:
                shutil.rmtree(system.data.parent, ignore_errors=True)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for system in self.systems:
            try:
                system.cleanup()
            except Exception as error:  # keep ending the others
                print(f"cleanup of {system.label} failed: {error!r}", file=sys.stderr)
        for proc in naming(str(self.base)):
            with contextlib.suppress(psutil.Error):
                self.leftovers.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
                proc.kill()
        if self.keep:
            print(f"data kept in {self.base}", file=sys.stderr)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
