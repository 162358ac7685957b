"""A runner's timers for its hosted actors: one heap, one thespian wakeup armed for the earliest."""

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timers:
    _heap: list[tuple[float, int, str, float, Any]] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]

    def add(self, key: str, delay_s: float, payload: Any, now: float | None = None) -> None:
        due = (time.monotonic() if now is None else now) + delay_s
        heapq.heappush(self._heap, (due, next(self._seq), key, delay_s, payload))

    def due(self, now: float | None = None) -> list[tuple[str, float, Any]]:
        """(key, delay, payload) of every timer due by `now`, in due order (equal times in order added)."""
        now = time.monotonic() if now is None else now
        fired = []
        while self._heap and self._heap[0][0] <= now:
            _, _, key, delay_s, payload = heapq.heappop(self._heap)
            fired.append((key, delay_s, payload))
        return fired

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
