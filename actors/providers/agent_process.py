"""The local `sandbox-agent server` processes: start one per task, or adopt the one already running.

An agent is recognised by its marker — the task id in its environment and the sandbox as its working
directory — and by answering /v1/health; a bare pid is never trusted (pids are reused).
"""

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from actors import proc as process
from actors.providers.base import PermanentError, TransientError
from schemas.status import ProviderKind, TaskStatus, settled

MARKER_ENV = "CRUCIBLE_TASK_ID"
COMM_MAX = 15  # bytes of a process name the kernel keeps (TASK_COMM_LEN, 16 with its NUL)
# Credentials reach an agent only through this allow-list; nothing else of the server's environment does.
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "USER",
    "TMPDIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "ANTHROPIC_API_KEY",
    "CLAUDE_API_KEY",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "GH_TOKEN",
    "GITHUB_TOKEN",
)


def healthy(endpoint: str, timeout: float = 2.0) -> bool:
    """The agent answers its health check with 200 and JSON, waited for on a thread: an agent's start
    polls it (a live agent's health is asked on the event loop: acp.healthy)."""
    request = urllib.request.Request(f"{endpoint}/v1/health", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            if raw:
                json.loads(raw)
            return bool(response.status == 200)
    except (OSError, ValueError):  # an HTTP error status is an OSError too
        return False


def find(task_id: str, sandbox: Path) -> list[psutil.Process]:
    """Live agent servers carrying this task's marker (normally zero or one)."""
    return [proc for proc, cwd, marker in _servers() if cwd == str(sandbox) and marker == task_id]


def lost_agent(record: dict[str, Any], live: set[str]) -> bool:
    """A task running for good with the local provider, whose agent is not among the live (a reboot, an
    OOM): start-up revives it (if its checkout is gone too, the revive ends in error). Sim tasks have none."""
    running = record["status"] == TaskStatus.running and settled(record)
    return running and record["provider"] == ProviderKind.local and record["id"] not in live


def could_have_agent(sandbox: Path) -> bool:
    """False for a sandbox that is no git checkout (the sim provider's): no agent ever ran there, so its
    task's record need not be read to know it lost none. A sandbox gone may be a local task's (its
    checkout vanished): that one must be read."""
    return not sandbox.is_dir() or (sandbox / ".git").exists()


def live_task_ids(sandboxes: Path) -> set[str]:
    """The tasks that have a live agent server: its marker names the sandbox it runs in."""
    return {marker for _, cwd, marker in _servers() if marker and cwd == str(sandboxes / marker)}


def _servers() -> Iterator[tuple[psutil.Process, str, str | None]]:
    """Every live `sandbox-agent server`, with its working directory and task marker (None if none)."""
    for pid in _candidates():
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
            named = len(cmdline) > 1 and "sandbox-agent" in os.path.basename(cmdline[0])
            if not named or cmdline[1] != "server":
                continue
            yield proc, proc.cwd(), proc.environ().get(MARKER_ENV)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


def _candidates() -> list[int]:
    """The processes that may be agent servers, by their name in /proc (one small read each): psutil
    reading every process's command line and directory cost ~0.1 ms per process on the machine (8 ms
    with 87 processes), at each agent start. The kernel names a process after the file it executed (the
    name is cut to 15 bytes): an agent we started, by its binary's path, has "sandbox-agent" in it; a
    name of 15 bytes may have been cut before it, so such a process is a candidate too (a kernel thread,
    whose name may be longer, never is)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm", "rb") as comm:
                name = comm.read().rstrip(b"\n")
        except OSError:  # gone meanwhile
            continue
        if b"sandbox-agent" in name or len(name) == COMM_MAX:
            pids.append(int(entry.name))
    return pids


def port_of(proc: psutil.Process) -> int | None:
    cmdline = proc.cmdline()
    for flag, value in itertools.pairwise(cmdline):
        if flag == "--port":
            return int(value)
    return None


def stop(proc: psutil.Process, grace: float = 5.0) -> None:
    """End an agent and everything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return
    except psutil.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def install(binary: str, agent: str, timeout: float) -> None:
    """`install-agent` is idempotent; `mock` needs no network."""
    try:
        done = process.run([binary, "install-agent", agent], timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"install-agent {agent} timed out") from exc
    except FileNotFoundError as exc:
        raise PermanentError(f"sandbox-agent binary not found: {binary}") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit {done.returncode}"
        found = re.search(r'error="(.*)"', last)  # sandbox-agent logs logfmt: keep its error text
        raise PermanentError(f"agent {agent!r} cannot be installed: {found.group(1) if found else last}")


def start(
    binary: str, task_id: str, sandbox: Path, log: Path, timeout: float, cancelled: threading.Event
) -> tuple[str, int]:
    """Start an agent server on a free port; a taken port means another port. Returns (endpoint, pid).
    Waiting for it to answer ends early when the task is archived or killed."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | {
        MARKER_ENV: task_id,
        "SANDBOX_AGENT_LOG_STDOUT": "1",  # its log goes to our per-task file, not under $HOME
        "SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS": "86400000",  # its own timeout never answers; ours do
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    "server",
                    "--no-token",
                    "--no-telemetry",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=sandbox,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not cancelled.is_set():
            if healthy(endpoint, timeout=1.0):
                return endpoint, proc.pid
            cancelled.wait(0.05)
        if proc.poll() is None:  # alive but never healthy (or no longer wanted): do not leave it behind
            stop(psutil.Process(proc.pid))
            if cancelled.is_set():
                raise TransientError("cancelled (the task is being archived or killed)")
            raise TransientError(f"agent server did not answer /v1/health within {timeout:.0f}s")
    raise TransientError("agent server exited at start five times (ports taken?)")
