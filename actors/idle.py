"""When an actor last had work: projects and workspaces leave memory once idle for CRUCIBLE_IDLE_TIMEOUT_S,
and look again with one wakeup at a time (a wakeup cannot be cancelled, so one more would only add)."""

import time
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass
class IdleClock:
    busy_at: float = field(default_factory=time.monotonic)  # when the actor last had work
    watched: bool = False  # a wakeup to look again is pending

    def touch(self) -> None:
        self.busy_at = time.monotonic()

    def quiet(self, timeout_s: float) -> bool:
        """Idle for the whole timeout."""
        return time.monotonic() - self.busy_at >= timeout_s

    def due(self, timeout_s: float) -> timedelta | None:
        """When to look again, for the wakeup to arm now; None if one is pending already."""
        if self.watched:
            return None
        self.watched = True
        return timedelta(seconds=max(0.0, self.busy_at + timeout_s - time.monotonic()))

    def woke(self) -> None:
        self.watched = False
