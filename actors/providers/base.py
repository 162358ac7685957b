"""The provider interface: idempotent for the same task id. Each call may be a plain function (it runs
on a thread of its runner's pool: git, process starts) or a coroutine function (it runs on the runner's
event loop and holds no thread while it waits: a remote API, the sim provider).

Every call may be repeated after a crash at any point; it must adopt what an interrupted call left
(a checkout, a live agent, an ACP server) rather than make a second one.
"""

import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar

from schemas.settings import Settings


class PermanentError(Exception):
    """Retrying cannot help (e.g. an agent that cannot be installed): the step ends in `error`."""


class TransientError(Exception):
    """Worth another attempt after backoff."""


@dataclass(frozen=True)
class TaskContext:
    """What a provider needs to know about a task; built by the task actor from its record."""

    task_id: str
    workspace: str
    project: str
    branch: str
    prompt: str
    agent: str
    data: Path
    mirror: Path
    settings: Settings
    branch_exists: bool = False
    sandbox: dict[str, Any] | None = None
    agent_info: dict[str, Any] | None = field(default=None)
    session_id: str | None = None  # the session an earlier run of the agent had, if any
    cancelled: threading.Event = field(default_factory=threading.Event)  # set: stop waiting, give up

    @property
    def sandbox_path(self) -> Path:
        return self.data / "sandboxes" / self.task_id


T = TypeVar("T")
Maybe: TypeAlias = T | Awaitable[T]  # a plain function's result, or a coroutine's


class Provider(Protocol):
    uses_mirror: bool
    converses: bool  # its agent has a stream to follow after `running` (see conversation)

    def ensure_name(self, ctx: TaskContext) -> Maybe[dict[str, Any]]: ...

    def create_sandbox(self, ctx: TaskContext) -> Maybe[dict[str, Any]]: ...

    def ensure_agent(self, ctx: TaskContext) -> Maybe[dict[str, Any]]: ...

    def open_session(self, ctx: TaskContext) -> Maybe[str]: ...

    def send_prompt(self, ctx: TaskContext, session_id: str) -> Maybe[None]: ...

    def release(self, ctx: TaskContext) -> Maybe[None]: ...

    def destroy(self, ctx: TaskContext) -> Maybe[None]: ...

    def health(self, ctx: TaskContext) -> Maybe[dict[str, Any]]: ...

    def send_message(self, ctx: TaskContext, session_id: str, message_id: str, text: str) -> Maybe[None]:
        """A follow-up prompt in the task's session (after `running`)."""
        ...

    def conversation(self, ctx: TaskContext, after: int) -> "Stream":
        """The agent's stream of messages from after this event id (only if `converses`)."""
        ...


class Stream(Protocol):
    async def burst(self) -> list[tuple[int, Any]]:
        """The next events that have arrived, as (id, message), at least one; [] once it has ended."""
        ...

    def close_soon(self) -> None:
        """From any thread: stop following (a burst awaited ends)."""
        ...
