"""Slow work (git, process starts, HTTP) off a runner's mailbox, on one bounded pool of threads.

A runner handles one message at a time for all its actors: work that blocks runs on the pool, and its
outcome comes back through one pipe the runner watches (ThespianWatch), so completion is pushed to the
runner, never polled. Each outcome then reaches its actor as a WatchMessage, in its mailbox, and the
actor's callback runs there, on the runner's thread, as any message would.
"""

import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from thespian.actors import ThespianWatch

Done = Callable[[Any, BaseException | None], None]
Outcome = tuple[Done, Any, BaseException | None]


class Offload:
    """One actor's share of its runner's pool: what the actor's code calls `self.offload`."""

    def __init__(self, pool: "WorkPool", key: str) -> None:
        self._pool, self.key = pool, key
        self.outcomes: list[Outcome] = []
        self.closed = False

    def submit(self, done: Done, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the pool; later, in this actor's mailbox, done(result, error)."""
        self._pool.submit(self, done, fn, args)

    def deliver(self) -> None:
        """On a WatchMessage: each finished outcome to its callback."""
        ready, self.outcomes = self.outcomes, []
        for done, result, error in ready:
            done(result, error)

    def close(self) -> None:
        """The actor is gone: outcomes still on their way are dropped (its state lives on disk)."""
        self.closed = True
        self.outcomes.clear()


class WorkPool:
    def __init__(self, threads: int) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="runner-work")
        self._finished: queue.SimpleQueue[tuple[Offload, Outcome]] = queue.SimpleQueue()

    def watch(self) -> ThespianWatch:
        return ThespianWatch([self._read_fd])

    def submit(self, owner: Offload, done: Done, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        def run() -> None:
            try:
                outcome: Outcome = (done, fn(*args), None)
            except BaseException as exc:  # reported to the actor, which decides what it means
                outcome = (done, None, exc)
            self._finished.put((owner, outcome))
            os.write(self._write_fd, b"x")

        self._threads.submit(run)

    def collect(self) -> list[str]:
        """Hand each finished outcome to its actor's Offload; return the keys of the actors that got one."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        ready: dict[str, None] = {}
        while True:
            try:
                owner, outcome = self._finished.get_nowait()
            except queue.Empty:
                return list(ready)
            if not owner.closed:
                owner.outcomes.append(outcome)
                ready[owner.key] = None

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        for fd in (self._read_fd, self._write_fd):
            os.close(fd)
