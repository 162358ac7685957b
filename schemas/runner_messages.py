"""Messages to the runners themselves (actors/runtime): starting them, hosting an actor, their load."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from schemas.messages import Address, Reply, Request
from schemas.settings import Settings


class Peer(BaseModel):
    """Another runner of the same machine: its name, its thespian address, its door."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    name: str
    address: Address
    door: Path


class RunnerStart(Request):
    """Web process (or a leader's runner, for one on a worker) → runner: its name and host."""

    name: str  # unique in the system: "leader/0", or "w1/leader/0" for a worker's
    host: str
    settings: Settings
    door: Path | None = None  # where the web process on its machine asks its actors (runtime/door.py)
    peers: list[Peer] = []  # the machine's other runners, reached through their doors (runtime/peers.py)


class RunnerStarted(Reply):
    pid: int  # the web process watches it: a runner that dies stops the server


class Spawn(Request):
    """Host a new actor of `cls` under `key` here. From the web process (a top-level actor: answered with
    Spawned), or from another runner (a child: `parent` hears ChildActorExited when it ends)."""

    cls: type
    key: str
    parent: Address | None = None


class Spawned(Reply):
    ref: Address


class RunnerLoad(Request):
    """Web (/metrics) → runner: what it hosts and how its mailbox is doing."""


class RunnerLoaded(Reply):
    name: str
    top: list[str]  # keys of its top-level actors in memory (workspace:NAME, cluster)
    hosted: dict[str, int]  # kind → actors hosted
    asleep: list[str]  # keys of its actors asleep (Cell.sleep): out of memory, woken by their next message
    mailbox: int  # messages waiting now
    envelopes: int  # messages for actors of other runners, since it started
    posts: int  # thespian messages that carried them (batched by turn)
    waits: list[float]  # seconds each message handled since the last ask waited in the mailbox (a sample)
