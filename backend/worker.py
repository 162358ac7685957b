"""`crucible worker`: an actor system that joins a leader's convention and hosts task actors for it —
their databases, sandboxes and agents, under this worker's data directory. It serves no HTTP: the
leader's web process serves every task, reading a worker's tasks through their actors.

The leader places actors here by capability (actors/hosts.py). Stopping (SIGTERM, SIGINT) ends the actor
system; its tasks resume from their persisted steps when it joins again, as after a kill -9.
"""

import os
import shutil
import signal
import threading

import structlog

from actors import hosts, logs, system
from schemas.settings import Settings


def work(settings: Settings, leader: tuple[str, int], capacity: int, name: str) -> int:
    logs.configure(settings.log_format, settings.log_level)
    log = structlog.get_logger().bind(component="worker", host=name)
    if name == hosts.LEADER or capacity < 1:
        log.error("worker.refused", reason=f"the name must not be {hosts.LEADER!r}, the capacity at least 1")
        return 2
    system.raise_fd_limit()
    refused = system.bind_actors(settings.cluster_address, settings.allow_public)
    if refused:
        log.error("worker.refused", reason=refused)
        return 2
    data = settings.data
    try:
        lock_fd = system.acquire_data_dir(data)
        shutil.rmtree(data / "tmp" / "pool", ignore_errors=True)  # databases prepared by a previous system
        system.write_pid_file(data, settings.actor_port, None)
        caps = hosts.worker_capabilities(name, data, capacity, leader)
        asys = system.start(settings.actor_port, data, caps)
    except system.AlreadyRunning as exc:
        log.error("worker.refused", reason=str(exc))
        return 1
    system.write_pid_file(data, settings.actor_port, system.admin_session(settings.actor_port))
    log.info("worker.started", leader=f"{leader[0]}:{leader[1]}", capacity=capacity, data_dir=str(data))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    _, leftovers = system.stop(asys, data)
    log.info("worker.stopped", leftover_actor_processes=leftovers)
    os.close(lock_fd)
    return 0
