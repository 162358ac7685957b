"""Slow work (git, process start, HTTP) off an actor's mailbox.

A hosted actor shares its runner's thread: a handler that blocks stops every actor of that runner. Work
goes to the runner's pool (actors/runtime/work.py); its outcome comes back as a WatchMessage in the
actor's mailbox, and `done` runs then, on the runner's thread, like any handler.
"""

from typing import Any, Protocol

from thespian.actors import WatchMessage

from actors.guard import GuardedActor
from schemas.messages import Address


class Offloader(Protocol):
    def submit(self, done: Any, fn: Any, *args: Any) -> None: ...
    def deliver(self) -> None: ...
    def close(self) -> None: ...


class OffloadingActor(GuardedActor):
    """An actor with slow work: it calls start_offload() when it starts."""

    offload: Offloader | None = None

    def start_offload(self) -> None:
        self.offload = self._myRef.offloader()

    def receiveMsg_WatchMessage(self, msg: WatchMessage, sender: Address) -> None:
        if self.offload:
            self.offload.deliver()
