"""`crucible worker`: an actor system that joins a leader's convention and hosts task actors for it —
their databases, sandboxes and agents, under this worker's data directory. It serves no HTTP: the
leader's web process serves every task, reading a worker's tasks through their actors.

The leader places actors here by capability (actors/runtime/hosts.py). Stopping (SIGTERM, SIGINT) ends
the actor system; its tasks resume from their persisted steps when it joins again, as after a kill -9. A
leader that restarted does not know the actors it had here: the worker then restarts its own actor
system too.
"""

import os
import signal
import threading
from datetime import timedelta
from typing import Any

import structlog

from actors import logs
from actors.runtime import hosts, system
from schemas.settings import Settings

LEADER_PROBE_S = 2.0  # how often the worker checks that its leader is still the run it joined
LEADER_PROBE_TIMEOUT = timedelta(seconds=2)


def work(settings: Settings, leader: tuple[str, int], capacity: int, name: str) -> int:
    logs.configure(settings.log_format, settings.log_level)
    log = structlog.get_logger().bind(component="worker", host=name)
    if name == hosts.LEADER or capacity < 1:
        log.error("worker.refused", reason=f"the name must not be {hosts.LEADER!r}, the capacity at least 1")
        return 2
    refused = system.prepare(settings.cluster_address, settings.allow_public)
    if refused:
        log.error("worker.refused", reason=refused)
        return 2
    data = settings.data_dir
    caps = hosts.worker_capabilities(name, data, capacity, leader)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        lock_fd = system.claim_data_dir(data)
        asys, generation = _join(settings, caps, leader, stop, log)
    except system.Refused as exc:
        log.error("worker.refused", reason=str(exc))
        return exc.exit_code
    while not stop.wait(LEADER_PROBE_S):
        seen = leader_generation(asys, leader)
        if seen is None or seen == generation:
            continue
        # Its actors here are orphans of the old leader, holding their tasks' locks: start afresh, so that
        # the new leader resumes every task here from its persisted steps (as after a kill -9).
        log.warning("worker.leader_restarted", leader=f"{leader[0]}:{leader[1]}")
        system.stop(asys, data)
        asys, generation = _join(settings, caps, leader, stop, log)
    _, leftovers = system.stop(asys, data)
    log.info("worker.stopped", leftover_actor_processes=leftovers)
    os.close(lock_fd)
    return 0


def _join(
    settings: Settings, caps: dict[str, Any], leader: tuple[str, int], stop: threading.Event, log: Any
) -> tuple[Any, str | None]:
    """A fresh actor system, joined to the leader's convention; and the run of the leader it joined."""
    data = settings.data_dir
    system.clear_for_start(data, settings.actor_port)
    asys = system.start(settings.actor_port, data, caps)
    system.write_pid_file(data, settings.actor_port, system.actor_session(asys))
    generation = None
    while generation is None and not stop.wait(0.2):  # the run joined is the one to compare with
        generation = leader_generation(asys, leader)
    log.info("worker.joined", leader=f"{leader[0]}:{leader[1]}", generation=generation, data_dir=str(data))
    return asys, generation


def leader_generation(asys: Any, leader: tuple[str, int]) -> str | None:
    """Which run of the leader this is: the address of its first runner, new at every start (None
    while the leader does not answer)."""
    from thespian.system.messages.status import Thespian_StatusReq
    from thespian.system.transport.TCPTransport import TCPTransport

    status = asys.ask(TCPTransport.getAddressFromString(leader), Thespian_StatusReq(), LEADER_PROBE_TIMEOUT)
    runner = getattr(status, "globalActors", {}).get("runner:0")
    return str(runner) if runner is not None else None
