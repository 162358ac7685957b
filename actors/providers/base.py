"""The provider interface: synchronous, and idempotent for the same task id.

Every call may be repeated after a crash at any point; it must adopt what an interrupted call left
(a checkout, a live agent, an ACP server) rather than make a second one.
"""

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    cancelled: threading.Event = field(default_factory=threading.Event)  # set: stop waiting, give up

    @property
    def sandbox_path(self) -> Path:
        return self.data / "sandboxes" / self.task_id


class Provider(Protocol):
    uses_mirror: bool

    def ensure_name(self, ctx: TaskContext) -> dict[str, Any]: ...

    def create_sandbox(self, ctx: TaskContext) -> dict[str, Any]: ...

    def ensure_agent(self, ctx: TaskContext) -> dict[str, Any]: ...

    def open_session(self, ctx: TaskContext) -> str: ...

    def send_prompt(self, ctx: TaskContext, session_id: str) -> None: ...

    def release(self, ctx: TaskContext) -> None: ...

    def destroy(self, ctx: TaskContext) -> None: ...

    def health(self, ctx: TaskContext) -> dict[str, Any]: ...
