"""The cap of live task actors, one per runner process: each live task actor holds its database, its
WAL and its lock open, and open files are the resource a process runs out of. The project actors a
runner hosts share its gate; they all run on the runner's one thread, so it needs no lock. Their task
actors go to the machine's runners in turn, so each runner process holds about its share of every
runner's count.

A project takes a slot for each task actor it makes and gives it back when that actor exits. A resume
that finds the gate full waits in its project's queue, and the project waits in the gate's: a slot
given back wakes the project that has waited longest (`SlotFree`), which activates its oldest task.
Task actors at rest are listed here too: a project that must wait first evicts the one longest at
rest, whichever project's it is (`Evict`), so that tasks at rest never hold the slots others need.
"""

from pathlib import Path
from typing import Any, ClassVar


class LiveGate:
    _shared: ClassVar[dict[Path, "LiveGate"]] = {}

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.live = 0
        self.waiting: list[Any] = []  # project addresses, longest waiting first (not hashable)
        self.resting: list[tuple[Any, str]] = []  # (project, task id) of actors at rest, oldest first

    @classmethod
    def shared(cls, data_dir: Path, cap: int) -> "LiveGate":
        """This process's gate for one data directory (tests run several servers' actors in one)."""
        return cls._shared.setdefault(data_dir, cls(cap))

    def full(self) -> bool:
        return self.live >= self.cap

    def take(self) -> None:
        """A task actor was made. At the cap, a create still takes one, briefly, to initialize."""
        self.live += 1

    def give(self) -> Any | None:
        """A task actor exited: the project waiting longest, to be woken, if any."""
        self.live = max(0, self.live - 1)
        return self.waiting.pop(0) if self.waiting and not self.full() else None

    def wait(self, project: Any) -> None:
        if not any(project == p for p in self.waiting):
            self.waiting.append(project)

    def leave(self, project: Any) -> None:
        """The project exits: it waits no more."""
        self.waiting = [p for p in self.waiting if p != project]

    def rest(self, project: Any, task_id: str) -> None:
        self.resting.append((project, task_id))

    def unrest(self, project: Any, task_id: str) -> None:
        """Busy again, or gone."""
        self.resting = [(p, t) for p, t in self.resting if t != task_id or p != project]

    def evictable(self) -> tuple[Any, str] | None:
        """The actor longest at rest, no longer listed: its project is to let it go."""
        return self.resting.pop(0) if self.resting else None
