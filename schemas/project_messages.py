"""Messages of the ProjectActor (actors/project.py)."""

from typing import Any

from schemas.api import Project
from schemas.messages import Message
from schemas.settings import Settings


class StartProject(Message):
    project: Project
    settings: Settings
    workspace_addr: Any


class EnsureMirror(Message):
    """A task asks for a fresh mirror before naming; answered with MirrorReady."""

    task_id: str
    branch: str
    attempt: int


class MirrorReady(Message):
    task_id: str
    attempt: int
    mirror: str | None
    default_branch: str | None
    branch_exists: bool
    error: str | None = None


class ActivateTasks(Message):
    task_ids: list[str]


class RefillPool(Message):
    pass
