"""Measurements an actor takes as it works, handed to the hub with its next push (no message of
their own): the web process serves them at /metrics."""

import time
from typing import Any

from schemas.messages import Message, Observations

LIMIT = 1000  # per kind between two pushes; beyond it, samples are dropped rather than hoarded


class Observer:
    def __init__(self, actor: str) -> None:
        self._pending = Observations(actor=actor)

    def handling(self, msg: Any) -> None:
        """A message is about to be handled: how long did it wait since it was made?"""
        if isinstance(msg, Message) and len(self._pending.waits) < LIMIT:
            self._pending.waits.append((type(msg).__name__, max(0.0, time.time() - msg.sent_at)))

    def step_done(self, step: str, seconds: float) -> None:
        if len(self._pending.steps) < LIMIT:
            self._pending.steps.append((step, seconds))

    def provider_error(self, step: str) -> None:
        if len(self._pending.errors) < LIMIT:
            self._pending.errors.append(step)

    def take(self) -> Observations | None:
        taken = self._pending
        if not (taken.waits or taken.steps or taken.errors):
            return None
        self._pending = Observations(actor=taken.actor)
        return taken
