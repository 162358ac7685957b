"""Starting and stopping the thespian actor system for one data directory.

Fences, in order (docs/design.md, rule 9, and its "Thespian facts"):
1. `<data>/crucible.lock` (flock) — one server per data directory. The Admin and actors inherit its
   descriptor, so the lock stays held until the last process of this system is gone.
2. `<data>/crucible.pid` names the last system's session. If the lock is held but the server named
   there is dead, the rest of its system is a stale leftover (kill -9 of the server leaves it running):
   it is ended — every process of its session — and never adopted, since it may run old code.
3. The actor system starts before any socket or thread exists, so forked actors inherit none.
"""

import contextlib
import fcntl
import json
import os
import resource
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import structlog
from thespian.actors import ActorTypeDispatcher

from actors import db, upgrades
from actors.runtime import loopback, memory
from schemas.messages import Address

SYSTEM_BASE = "multiprocTCPBase"


class Refused(Exception):
    """The server must not start on this data directory; `exit_code` tells a supervisor why."""

    exit_code = 1


class AlreadyRunning(Refused):
    """Another server uses the data directory, or the actor port."""


class DataTooNew(Refused):
    """A database there was written by a newer Crucible (actors/upgrades.py)."""

    exit_code = 2


def claim_data_dir(data: Path) -> int:
    """The data directory's lock (acquire_data_dir), on data this code can run on. Returns the lock fd."""
    fd = acquire_data_dir(data)
    newer = next(upgrades.too_new(data), None)
    if newer is not None:
        os.close(fd)
        raise DataTooNew(str(newer))
    return fd


def acquire_data_dir(data: Path) -> int:
    """Take the data-directory lock, ending a stale system that still holds it. Returns the lock fd."""
    data.mkdir(parents=True, exist_ok=True)
    lock = data / "crucible.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    info = read_pid_file(data) or {}
    if _serving(info.get("server_pid"), lock):
        os.close(fd)
        raise AlreadyRunning(f"another server (pid {info['server_pid']}) uses {data}")
    sids = {info["actor_sid"]} if info.get("actor_sid") else {os.getsid(p.pid) for p in _holders(lock)}
    # A live server leads its session (or shares a shell's); a stale actor system's leader is gone, since
    # the thespian Admin daemonizes (setsid, then fork and exit).
    live = [sid for sid in sids if process_alive(sid)]
    if live or not sids:
        os.close(fd)
        raise AlreadyRunning(f"another server uses {data} (session {live or 'unknown'})")
    for sid in sids:
        end_session(sid)
    if _wait_for_lock(fd, 15.0):
        return fd
    os.close(fd)
    raise AlreadyRunning(f"{lock} is still held after ending the stale system")


def read_pid_file(data: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads((data / "crucible.pid").read_text())
        return value
    except (OSError, ValueError):
        return None


def clear_for_start(data: Path, actor_port: int) -> None:
    """Before a new system starts here: a pid file that names no session yet (the new one's is written
    once it is known)."""
    write_pid_file(data, actor_port, None)


def write_pid_file(data: Path, actor_port: int, actor_sid: int | None) -> None:
    info = {
        "server_pid": os.getpid(),
        "actor_host": loopback.bound_address(),
        "actor_port": actor_port,
        "actor_sid": actor_sid,
        "started_at": time.time(),
    }
    tmp = data / "crucible.pid.tmp"
    tmp.write_text(json.dumps(info))
    tmp.replace(data / "crucible.pid")


def session_processes(sid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of a session, this one excepted."""
    procs = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and os.getsid(proc.pid) == sid and _alive(proc):
                procs.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return procs


def end_session(sid: int | None, grace: float = 0.0) -> int:
    """SIGKILL every process of an actor system (Admin, Logger, actors share one session) still alive
    after `grace` seconds. Agents are not touched: each leads its own session, and the next start
    adopts them. Returns how many had to be killed."""
    if not sid or sid == os.getsid(0):
        return 0
    procs = _wait_dead(session_processes(sid), grace)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    _wait_dead(procs, 5.0)
    return len(procs)


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not)."""
    try:
        return _alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def _alive(proc: psutil.Process) -> bool:
    """Zombies count as dead: they hold nothing, and their reaping is their parent's (or init's) affair."""
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` for the processes to end; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    return alive


def prepare(cluster_address: str, allow_public: bool) -> str | None:
    """Before the actor system starts: room for descriptors (the Admin holds ~3 per actor; the usual
    1024 runs out near 340 actors), and the actor sockets on loopback, or on the cluster address if one
    is given and allowed. Returns why not, if not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    if not cluster_address:
        return None
    refused = loopback.refuse_public(cluster_address, allow_public)
    if refused is None:
        loopback.apply(cluster_address)
    return refused


class SessionProbe(ActorTypeDispatcher):  # type: ignore[misc]
    """Answers with its session id: the actor system's (the Admin and every actor share it)."""

    def receiveMsg_str(self, msg: str, sender: Address) -> None:
        self.send(sender, os.getsid(0))


def actor_session(asys: Any) -> int | None:
    """The session of a system started here, for the stale-system fence (`crucible.pid`)."""
    from thespian.actors import ActorExitRequest

    probe = asys.createActor(SessionProbe)
    sid = asys.ask(probe, "sid", timedelta(seconds=10))
    asys.tell(probe, ActorExitRequest())
    return sid if isinstance(sid, int) else None


# A convention member re-registers with its leader this often; the leader declares it gone after
# CONVENTION_MISSES missed check-ins (thespian's defaults: 7 min 22 s, 3 — a dead worker went unnoticed
# for over 20 minutes). A member whose leader has not yet answered waits the restart period between
# attempts instead (3 min 22 s): it gets the same. The Admin is forked from this process, so it
# inherits the patched values.
CONVENTION_CHECKIN = timedelta(seconds=2)
CONVENTION_MISSES = 3


def start(actor_port: int, data: Path, capabilities: dict[str, Any] | None = None) -> Any:
    """A fresh multiprocTCPBase system on loopback (or the cluster address), with thespian's own log in
    the data directory. `capabilities` place actors across a convention (actors/runtime/hosts.py)."""
    from thespian.actors import ActorSystem
    from thespian.system.admin import convention

    convention.CONVENTION_REREGISTRATION_PERIOD = CONVENTION_CHECKIN
    convention.CONVENTION_RESTART_PERIOD = CONVENTION_CHECKIN  # a member's wait when the leader is silent
    convention.CONVENTION_REGISTRATION_MISS_MAX = CONVENTION_MISSES

    assert loopback.applied()
    with socket.socket() as probe:  # never attach to another system that happens to own the port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind((loopback.bound_address(), actor_port))
        except OSError as exc:
            raise AlreadyRunning(f"actor port {actor_port} is in use: {exc.strerror}") from None
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    os.environ["THESPLOG_FILE"] = str(logs / "thespian-internal.log")
    os.environ.setdefault("THESPLOG_THRESHOLD", "WARNING")
    log_defs = {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(logs / "thespian.log"),
                "formatter": "plain",
                "level": "WARNING",
            }
        },
        "root": {"handlers": ["file"], "level": "WARNING"},
    }
    caps = {**(capabilities or {}), "Admin Port": actor_port}
    if not db.lean_page_cache():  # before the fork of every actor process, which inherit it
        structlog.get_logger().warning("sqlite.page_cache_not_lean", reason="SQLite in use already")
    memory.share_with_forks()
    asys = ActorSystem(SYSTEM_BASE, caps, logDefs=log_defs, transientUnique=True)
    _reap_admin_starter()
    return asys


def _reap_admin_starter() -> None:
    """thespian starts its Admin through a child process that forks it (a daemon, in a session of its
    own) and exits, and never waits for that child: it stayed a zombie as long as the server ran. It has
    exited by now (the Admin it forked has answered), and nothing else is a child of this process yet:
    the actor system starts first."""
    for child in psutil.Process().children():
        if not process_alive(child.pid):
            with contextlib.suppress(ChildProcessError):  # reaped meanwhile
                os.waitpid(child.pid, 0)


# How long a stop waits for thespian's own shutdown. An actor forked while the system shuts down (a runner
# made at start-up, kquick#27) can keep the Admin from ever confirming, and thespian then waits 10 s.
SHUTDOWN_WAIT = timedelta(seconds=2)


def stop(asys: Any, data: Path) -> tuple[float, int]:
    """Shut the actor system down, then end whatever of its session is left (every actor is crash-safe,
    so ending one is no worse than a kill -9). Returns when thespian's shutdown returned, and how many
    processes had to be killed."""
    from thespian.system import systemBase

    systemBase.MAX_SYSTEM_SHUTDOWN_DELAY = SHUTDOWN_WAIT
    asys.shutdown()
    stopped = time.monotonic()
    info = read_pid_file(data) or {}
    return stopped, end_session(info.get("actor_sid"), grace=0.5)


def _serving(pid: int | None, lock: Path) -> bool:
    """The server the pid file names is alive and holds the lock: its actor system is no leftover, however
    its session looks (the Admin's session has no leader: it daemonizes). Holding the lock rules out a
    recycled pid."""
    try:
        proc = psutil.Process(pid) if pid else None
        return proc is not None and _alive(proc) and any(f.path == str(lock) for f in proc.open_files())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _holders(path: Path) -> list[psutil.Process]:
    holders = []
    for proc in psutil.process_iter():
        try:
            if any(f.path == str(path) for f in proc.open_files()):
                holders.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return holders


def _wait_for_lock(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.05)
    return False
