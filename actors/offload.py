"""Run slow work (git, process start, HTTP) off an actor's message loop.

A thespian actor is single-threaded and must not block in a handler: it would stop answering and every
`tell` to it would stall its sender. Work goes to one worker thread; its outcome comes back through a
pipe the actor watches (ThespianWatch), so completion is pushed to the actor, never polled.
"""

import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from thespian.actors import ThespianWatch, WatchMessage

from actors.guard import GuardedActor

Done = Callable[[Any, BaseException | None], None]


class Offloader:
    def __init__(self, name: str) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._outcomes: queue.SimpleQueue[tuple[Done, Any, BaseException | None]] = queue.SimpleQueue()

    def watch(self) -> ThespianWatch:
        """Return this from every receiveMessage so that finished work wakes the actor."""
        return ThespianWatch([self._read_fd])

    def submit(self, done: Done, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the worker; later, on the actor's thread, done(result, error)."""

        def run() -> None:
            try:
                outcome: tuple[Done, Any, BaseException | None] = (done, fn(*args), None)
            except BaseException as exc:  # reported to the actor, which decides what it means
                outcome = (done, None, exc)
            self._outcomes.put(outcome)
            os.write(self._write_fd, b"x")

        self._pool.submit(run)

    def deliver(self) -> None:
        """Call on a WatchMessage: hands every finished outcome to its callback, on the actor's thread."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                done, result, error = self._outcomes.get_nowait()
            except queue.Empty:
                return
            done(result, error)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for fd in (self._read_fd, self._write_fd):
            os.close(fd)


class OffloadingActor(GuardedActor):
    """An actor whose slow work runs on an Offloader (created by the subclass when it starts)."""

    offload: Offloader | None = None

    def receiveMessage(self, msg: Any, sender: Any) -> Any:
        # Every return hands thespian the watch: a handler that raised must not lose finished work.
        super().receiveMessage(msg, sender)
        return self.offload.watch() if self.offload else None

    def receiveMsg_WatchMessage(self, msg: WatchMessage, sender: Any) -> None:
        if self.offload:
            self.offload.deliver()
