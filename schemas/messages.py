"""Base shapes shared by every actor message: requests carry an id that their reply echoes."""

import time
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field
from thespian.actors import ActorAddress

# Any actor's address: a hosted actor's (actors/runtime/refs.py: Ref), a runner door's asker, or thespian's
# own (a runner, the web process's bridge, the admin script). Opaque and picklable; only runners resolve it.
Address: TypeAlias = ActorAddress


class Message(BaseModel):
    # Addresses travel inside messages: thespian objects, checked as instances of Address.
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    sent_at: float = Field(default_factory=time.time)  # the receiver measures its queue wait from it


class Observations(BaseModel):
    """What an actor measured since its last push; the hub turns them into /metrics."""

    actor: str  # workspace, task
    waits: list[tuple[str, float]] = []  # (message type, seconds from its creation to its handling)
    steps: list[tuple[str, float]] = []  # (step, seconds from its first entry to done)
    errors: list[str] = []  # steps whose provider call failed (transient or not)


class Request(Message):
    request_id: str
    reply_to: Address | None = None  # where the reply goes when forwarded (the bridge's endpoint)


class Reply(Message):
    request_id: str


class Failure(Reply):
    """A refused request: the bridge turns it into an HTTP error as is."""

    status: int
    code: str
    message: str
    details: Any = None

    @classmethod
    def task_not_found(cls, request_id: str, task_id: str) -> "Failure":
        return cls(request_id=request_id, status=404, code="task_not_found", message=f"no task {task_id}")


class ActorInfo(BaseModel):
    kind: str  # workspace, project, mirror, task
    id: str  # the workspace's, project's or task's name; the mirror's host
    key: str  # the actor's key on its runner ("" for one not hosted yet: a mirror still starting)
    runner: str  # the runner that hosts it ("leader/0"; "w1/leader/0" on a worker)
    address: str
    since: str  # when it took this role (UTC ISO 8601)


class Describe(Request):
    """Admin or web → a workspace (→ each of its projects): which actors run there."""


class Described(Reply):
    actors: list[ActorInfo]


class Drain(Request):
    """Stop at the next persisted boundary: no new step starts. Answered once every step in flight below
    the receiver has finished (or the asker's deadline passes first)."""


class Drained(Reply):
    pass
