"""The HTTP API's request and response models (docs/design.md, "HTTP API")."""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.status import AgentKind, ProviderKind, TaskStatus

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
TASK_ID_PATTERN = r"^[0-9a-f]{22}$"


_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def valid_branch(name: str) -> bool:
    """What `git check-ref-format --branch` accepts (and no leading '-'), without running git."""
    if name.startswith("-") or name in ("@", "HEAD") or _BAD_REF_CHARS.search(name):
        return False
    if ".." in name or "@{" in name or "//" in name or name.startswith("/") or name.endswith(("/", ".")):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN)


class Health(BaseModel):
    status: Literal["ok", "starting", "draining"]


class Workspace(BaseModel):
    name: str
    created_at: str


class WorkspaceList(BaseModel):
    workspaces: list[Workspace]


class ProjectCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    repo: str = Field(min_length=1, max_length=4096)


class Project(BaseModel):
    workspace: str
    name: str
    repo: str
    created_at: str


class ProjectList(BaseModel):
    projects: list[Project]


class TaskCreate(_Strict):
    prompt: str = Field(min_length=1, max_length=32768)
    title: str | None = Field(None, min_length=1, max_length=200)
    branch: str | None = Field(None, min_length=1, max_length=200)
    agent: AgentKind = AgentKind.mock
    provider: ProviderKind | None = None

    @field_validator("branch")
    @classmethod
    def _branch_is_valid(cls, value: str | None) -> str | None:
        if value is not None and not valid_branch(value):
            raise ValueError(
                "not a branch name git accepts (git check-ref-format --branch), or starts with '-'"
            )
        return value


MAX_MESSAGE_CHARS = 100_000


class MessageCreate(_Strict):
    """A follow-up prompt to a running task's agent."""

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class MessageAccepted(BaseModel):
    message_id: str


class Sandbox(BaseModel):
    id: str
    provider: ProviderKind
    path: str


class TaskError(BaseModel):
    step: str
    message: str
    attempts: int
    at: str


class Step(BaseModel):
    name: TaskStatus
    status: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    error: str | None


class TaskRecord(BaseModel):
    id: str
    workspace: str
    project: str
    title: str
    branch: str
    prompt: str
    agent: AgentKind
    provider: ProviderKind
    status: TaskStatus
    status_message: str
    sandbox: Sandbox | None
    agent_endpoint: str | None
    session_id: str | None
    error: TaskError | None
    steps: list[Step]
    created_at: str
    updated_at: str
    seq: int


class TaskSummary(BaseModel):
    id: str
    project: str
    title: str
    branch: str
    status: TaskStatus
    status_message: str
    updated_at: str
    seq: int
    host: str = "leader"  # the actor system that holds the task: the leader, or a worker's name


class HostInfo(BaseModel):
    """An actor system that holds tasks: the leader, or a worker of its convention."""

    name: str
    up: bool
    capacity: int  # tasks it may hold; 0: no limit (the leader)
    tasks: int  # tasks placed there by the cluster, not archived, killed or deleted
    since: str  # when it joined, or was last seen leaving


class HostList(BaseModel):
    hosts: list[HostInfo]


class TaskList(BaseModel):
    tasks: list[TaskSummary]
    next_cursor: str | None


class Event(BaseModel):
    seq: int
    kind: str
    status: TaskStatus
    at: str
    data: dict[str, Any]


class History(BaseModel):
    events: list[Event]


class FeedFrame(BaseModel):
    """A frame of the workspace websocket: a task's latest summary, a task deleted, or `resync` before a
    full snapshot."""

    type: Literal["task", "deleted", "resync"]
    cursor: int | None = None
    task: TaskSummary | None = None  # type task
    task_id: str | None = None  # type deleted


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
