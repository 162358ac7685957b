"""Messages of the WorkspaceActor (actors/workspace/actor.py)."""

from typing import Any, Literal

from schemas.api import Project, TaskCreate, TaskSummary, Workspace
from schemas.messages import Address, Message, Observations, Reply, Request
from schemas.settings import Settings


class StartWorkspace(Request):
    name: str
    settings: Settings
    cluster_addr: Address | None = None


class WorkspaceStarted(Reply):
    created: bool
    workspace: Workspace
    identity: dict[str, Any]  # pid and session id of the actor system, for the stale-system fence


class RegisterProject(Request):
    name: str
    repo: str


class ProjectRegistered(Reply):
    created: bool
    project: Project


class CreateTask(Request):
    project: str
    body: TaskCreate
    idempotency_key: str | None = None


class TaskCreated(Reply):
    created: bool
    record: dict[str, Any]


class ResumeTasks(Request):
    """Start-up: activate these tasks (task id → project); each continues from its first unfinished step."""

    tasks: dict[str, str]


class ResumeDispatched(Reply):
    count: int


class TaskChanged(Message):
    """A task actor committed: the workspace keeps the projection current (newer seq wins)."""

    summary: TaskSummary
    workspace: str


class FeedChanged(Message):
    """Workspace → hub (a push, actors/push.py): a task changed or was deleted, taking the next cursor;
    `frame` is what feed subscribers get (actors/workspace/projection.py)."""

    kind: Literal["feed"] = "feed"
    observed: Observations | None = None
    workspace: str
    cursor: int
    frame: dict[str, Any]


class HostState(Message):
    """Project → workspace: a worker left (`down_since` set) or came back; its tasks' summaries say so."""

    host: str
    task_ids: list[str]
    down_since: str


class TaskDeleted(Request):
    """Task → workspace, its files gone: drop it from the projection (the feed hears of it), then
    answer the client."""

    task_id: str
