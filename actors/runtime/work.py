"""Slow work off a runner's mailbox: on one event loop, and on one bounded pool of threads.

A runner handles one message at a time for all its actors, so work that waits or blocks runs elsewhere
and reports back. A coroutine function (a provider call that waits on the network or a timer) runs on
the runner's event loop: waiting holds no thread, so thousands of tasks can wait at once. A plain
function (git, starting a process) runs on the loop's pool of threads. Either way the outcome comes back
through one pipe the runner watches (ThespianWatch), so completion is pushed to the runner, never
polled, and reaches its actor as a WatchMessage, in its mailbox: the actor's callback runs there, on the
runner's thread, as any handler would.
"""

import asyncio
import inspect
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from thespian.actors import ThespianWatch

T = TypeVar("T")
Done = Callable[[Any, BaseException | None], None]
Outcome = tuple[Done, Any, BaseException | None]


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args): awaited if it is a coroutine function, else run on the loop's threads."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _after(owner: "Offload", fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """fn(*args) once the owner's previous piece of work is over (coroutines start in submission order)."""
    previous, owner.tail = owner.tail, asyncio.current_task()
    if previous is not None:
        await asyncio.wait([previous])
    return await call(fn, *args)


class Offload:
    """One actor's share of its runner's work: what the actor's code calls `self.offload`. Its work runs
    one piece at a time, in the order submitted, as on a thread of its own: a kill's cleanup runs after
    the step it interrupted has stopped, and a mirror's git commands never overlap."""

    def __init__(self, pool: "WorkPool", key: str) -> None:
        self._pool, self.key = pool, key
        self.outcomes: list[Outcome] = []
        self.closed = False
        self.tail: asyncio.Task[Any] | None = None  # the last piece submitted (touched on the loop only)

    def submit(self, done: Done, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) off the mailbox; later, in this actor's mailbox, done(result, error)."""
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
        self._finished: queue.SimpleQueue[tuple[Offload, Outcome]] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="runner-work")
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="runner-loop", daemon=True)
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def watch(self) -> ThespianWatch:
        return ThespianWatch([self._read_fd])

    def wake(self) -> None:
        """From the loop's thread: the runner looks at what came in (a door's ask)."""
        os.write(self._write_fd, b"x")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """On the loop, waited for: for the runner's own set-up and teardown."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5.0)

    def submit(self, owner: Offload, done: Done, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        def finished(future: Future[Any]) -> None:
            if future.cancelled():
                return  # the runner is stopping
            error = future.exception()
            outcome: Outcome = (done, None, error) if error else (done, future.result(), None)
            self._finished.put((owner, outcome))
            self.wake()

        asyncio.run_coroutine_threadsafe(_after(owner, fn, args), self._loop).add_done_callback(finished)

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
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1.0)
        for fd in (self._read_fd, self._write_fd):
            os.close(fd)
