"""A real Crucible server as a subprocess group, with private ports and data directory, for tests."""

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from actors.runtime import system

ROOT = Path(__file__).resolve().parent.parent
# The result events of a clean provisioning, in order (the `task.status` events between them left out).
RESULT_KINDS = [
    "task.created",
    "task.named",
    "task.sandbox",
    "task.agent",
    "task.session",
    "task.initialized",
]
AGENT_BIN = ROOT / ".tools/sandbox-agent/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent"


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`crucible <args>` as its own process group (so a kill -9 can take it whole), logging to `log`."""
    return spawn_group([sys.executable, "-m", "backend.cli", *args], ROOT, env, log)


def spawn_group(cmd: list[str], cwd: Path, env: dict[str, str] | None, log: Path) -> subprocess.Popen[bytes]:
    """`cmd` as its own process group, logging to `log`; `env` None: this process's environment."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def free_port() -> int:
    """A free port outside the kernel's ephemeral range. A port from that range (bind to 0) could be taken,
    between this call and the server's bind, by any socket bound to 0: an actor's, even this server's."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    outside = [*range(10_000, low), *range(high + 1, 65_536)]
    while True:
        port = random.choice(outside)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


_HANDED_OUT: set[int] = set()  # by this process: a server stopped for a while keeps its port


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def agents_under(data: Path) -> list[psutil.Process]:
    """sandbox-agent servers whose working directory is one of this data directory's sandboxes."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmd = proc.info["cmdline"] or []
        is_agent = len(cmd) > 1 and cmd[0].endswith("sandbox-agent") and cmd[1] == "server"
        if is_agent and (proc.info["cwd"] or "").startswith(str(data / "sandboxes")):
            found.append(proc)
    return found


class ProcessGroup:
    """A `crucible` process group and the actor system it started (daemonized: a session of its own)."""

    data: Path
    proc: subprocess.Popen[bytes] | None

    def actor_processes(self) -> list[psutil.Process]:
        info = system.read_pid_file(self.data) or {}
        return system.session_processes(info["actor_sid"]) if info.get("actor_sid") else []

    def kill9(self) -> None:
        """kill -9 of the process group and of every actor process, at once."""
        victims = self.actor_processes()
        if self.proc:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        # A process forked while the first ones die (a pool's next task actor) is not among them: again,
        # until the session is empty, as a kill of the whole session (a container's stop) would leave it.
        for _ in range(10):
            for proc in victims:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            psutil.wait_procs(victims, timeout=10)
            victims = self.actor_processes()
            if not victims:
                return

    def cleanup(self) -> None:
        """End everything it started: its group, its actor system, its agents."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        self.kill9()
        for agent in agents_under(self.data):
            try:
                os.killpg(agent.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue


class Server(ProcessGroup):
    def __init__(
        self,
        data: Path,
        provider: str = "sim",
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        settings_in_env: bool = False,
    ) -> None:
        """`settings_in_env`: the data directory and actor port are given as CRUCIBLE_DATA_DIR and
        CRUCIBLE_ACTOR_PORT, not as flags."""
        self.data = data
        self.provider = provider
        self.args = args  # more `crucible serve` flags
        self.port, self.actor_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "CRUCIBLE_SANDBOX_AGENT_BIN": str(AGENT_BIN),
            "CRUCIBLE_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.settings_flags = ["--data-dir", str(data), "--actor-port", str(self.actor_port)]
        if settings_in_env:
            self.env |= {"CRUCIBLE_DATA_DIR": str(data), "CRUCIBLE_ACTOR_PORT": str(self.actor_port)}
            self.settings_flags = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}-server.log"

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self, wait: bool = True) -> "Server":
        self.data.mkdir(parents=True, exist_ok=True)
        command = [
            *("serve", *self.settings_flags, "--port", str(self.port)),
            *("--provider", self.provider, *self.args),
        ]
        self.proc = spawn(command, self.env, self.log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0, poll: float = 0.05) -> None:
        """Until /v1/health answers 200, asked every `poll` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc and self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                if self.get("/v1/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(poll)
        raise TimeoutError(f"server not ready: {self.log.read_text()[-2000:]}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the clean stop."""
        assert self.proc
        os.kill(self.proc.pid, signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    # ---- HTTP -----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 30.0,
    ) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={**hdrs, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status, rheaders, payload = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, rheaders, payload = exc.code, dict(exc.headers), exc.read()
        return Response(status, rheaders, json.loads(payload) if payload else None)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)

    # ---- domain helpers -------------------------------------------------------------------------

    def register(self, repo: Path, name: str = "demo", workspace: str = "default") -> Response:
        return self.post(f"/v1/workspaces/{workspace}/projects", {"name": name, "repo": str(repo)})

    def create(self, body: dict[str, Any] | None = None, project: str = "demo", **kw: Any) -> Response:
        return self.post(
            f"/v1/workspaces/default/projects/{project}/tasks", body or {"prompt": "do it"}, **kw
        )

    def task(self, task_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get(f"/v1/tasks/{task_id}").body
        return body

    def history(self, task_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/v1/tasks/{task_id}/history?limit=1000").body["events"]
        return events

    def wait_status(self, task_id: str, statuses: set[str], timeout: float = 60.0) -> dict[str, Any]:
        """Wait for one of `statuses`; `running` counts once its step is done (`task.initialized`).

        Woken by the task's events websocket rather than by polling; the record is polled only if the
        websocket cannot be had (refused, or closed before the deadline)."""
        deadline = time.monotonic() + timeout
        with ThreadPoolExecutor(1) as loop:  # a loop of its own: async tests call this inside theirs
            record = loop.submit(asyncio.run, self._await_status(task_id, statuses, deadline)).result()
        while not reached(record, statuses) and time.monotonic() < deadline:
            time.sleep(0.02)
            record = self.task(task_id)
        if not reached(record, statuses):
            raise TimeoutError(f"task {task_id} stuck at {record['status']}: {record['status_message']}")
        return record

    async def _await_status(self, task_id: str, statuses: set[str], deadline: float) -> dict[str, Any]:
        """The record once it has one of `statuses`, else at the deadline, or as it is when the websocket
        fails. It is read again on every event that brings a wanted status (`since=0`: the events so far,
        then live ones), and after a second with no event, in case a change came without one."""
        url = f"http://127.0.0.1:{self.port}/v1/tasks/{task_id}"
        async with aiohttp.ClientSession() as http:

            async def read() -> dict[str, Any]:
                async with http.get(url) as resp:
                    body: dict[str, Any] = await resp.json()
                    return body

            record = await read()
            try:
                async with http.ws_connect(f"{url}/events?since=0") as ws:
                    while not reached(record, statuses) and (left := deadline - time.monotonic()) > 0:
                        try:
                            msg = await ws.receive(timeout=min(left, 1.0))
                        except TimeoutError:
                            record = await read()
                            continue
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            break  # closed (a restart, a drain): the caller polls for the time left
                        if json.loads(msg.data)["status"] in statuses:
                            record = await read()
            except aiohttp.WSServerHandshakeError:
                pass  # refused: the caller polls
            return record


def reached(record: dict[str, Any], statuses: set[str]) -> bool:
    """The record has one of `statuses`, and a `running` task has finished its last step."""
    settled = record["status"] != "running" or record["steps"][-1]["status"] == "done"
    return record["status"] in statuses and settled


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def make_repo(path: Path, branches: tuple[str, ...] = ("existing",)) -> Path:
    """A real git repository with one commit on main and a few other branches."""
    run = lambda *a: subprocess.run(["git", *a], cwd=path, check=True, capture_output=True)  # noqa: E731
    path.mkdir(parents=True)
    run("init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    run("add", "README.md")
    run("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "init")
    for branch in branches:
        run("branch", branch)
    return path


def serving_sim(factory: Any, name: str, env: dict[str, str]) -> Iterator[Server]:
    """A sim server with project `demo`, for the module's tests."""
    base = factory.mktemp(name)
    running = Server(base / "data", "sim", env)
    try:
        running.start()
        running.register(make_repo(base / "repo"))
        yield running
    finally:
        running.cleanup()


class Worker(ProcessGroup):
    """`crucible worker` joined to a leader, as its own process group with its own data directory."""

    def __init__(
        self, leader: Server, data: Path, name: str, capacity: int = 16, address: str = "127.0.0.1"
    ) -> None:
        """`address`: the cluster address of both the leader and this worker (loopback by default)."""
        self.leader, self.data, self.name, self.capacity, self.address = leader, data, name, capacity, address
        self.actor_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}-worker.log"

    def start(self, wait: bool = True) -> "Worker":
        self.data.mkdir(parents=True, exist_ok=True)
        command = [
            *("worker", "--name", self.name),
            *("--leader", f"{self.address}:{self.leader.actor_port}", "--capacity", str(self.capacity)),
            *("--data-dir", str(self.data), "--actor-port", str(self.actor_port)),
        ]
        if self.address != "127.0.0.1":
            command += ["--cluster-address", self.address]
        self.proc = spawn(command, self.leader.env, self.log)
        if wait:
            self.wait_joined()
        return self

    def host(self) -> dict[str, Any] | None:
        hosts = self.leader.get("/v1/hosts").body["hosts"]
        return next((h for h in hosts if h["name"] == self.name), None)

    def wait_joined(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not ((host := self.host()) and host["up"]):
            assert self.proc and self.proc.poll() is None, f"worker exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"worker never joined: {self.log.read_text()[-2000:]}"
            time.sleep(0.1)
