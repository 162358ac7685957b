"""Addresses of hosted actors, and what travels between runners to reach them."""

import zlib
from dataclasses import dataclass
from typing import Any

from thespian.actors import ActorAddress

from schemas.messages import ActorInfo, Address


class Ref(ActorAddress):  # type: ignore[misc]
    """A hosted actor: its runner (a thespian address and a name unique in the system) and its key there.

    It is an ActorAddress so that the actors' own code sends to it as to any address; only runners
    (and the web process's bridge) ever resolve it. Equal and hashable by (runner name, key).
    """

    def __init__(self, runner: ActorAddress, runner_name: str, key: str) -> None:
        super().__init__(("hosted", runner_name, key))
        self.runner = runner
        self.runner_name = runner_name
        self.key = key

    def __hash__(self) -> int:
        return hash(self.addressDetails)

    def __str__(self) -> str:
        return f"{self.key}@{self.runner_name}"

    __repr__ = __str__


@dataclass(frozen=True)
class Envelope:
    """A message for a hosted actor, sent to its runner. `sender` None: the thespian sender (the web
    process's bridge, the admin script) is the one to answer. `request`: an ask from outside, or sent
    while its sender handled one: the runner puts it in its request lane (mailbox.py)."""

    to: Ref
    msg: Any
    sender: Address | None = None
    request: bool = False


@dataclass(frozen=True)
class Batch:
    """Every Envelope one runner's turn made for another runner: one thespian message instead of many."""

    envelopes: list[Envelope]


def described(kind: str, name: str, addr: Address | None, since: str) -> ActorInfo:
    """What the admin script lists of a hosted actor: its kind and name, its key and its runner."""
    key, runner = (addr.key, addr.runner_name) if isinstance(addr, Ref) else ("", "")
    return ActorInfo(kind=kind, id=name, key=key, runner=runner, address=str(addr), since=since)


def addressed(addr: Address, msg: Any) -> tuple[Address, Any]:
    """The thespian address and message that reach `addr`, hosted or not: for a caller outside the runners."""
    if isinstance(addr, Ref):
        return addr.runner, Envelope(addr, msg, request=True)
    return addr, msg


def runner_for(name: str, count: int) -> int:
    """Which of the leader's runners hosts the top-level actor `name` (a workspace): stable across restarts
    and processes, so the admin script finds it as the web process placed it."""
    return zlib.crc32(name.encode()) % count
