"""Messages of the TaskActor (actors/task/actor.py)."""

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from schemas.api import TaskSummary
from schemas.messages import Address, Message, Observations, Reply, Request
from schemas.settings import Settings
from schemas.status import AgentKind, ProviderKind


class Bind(Message):
    """Sent first to a new task actor: who it reports to. The task id comes with Initialize/Activate."""

    workspace: str
    project: str
    repo: str
    mirror: Path
    settings: Settings
    workspace_addr: Address
    project_addr: Address
    host: str = "leader"  # where it runs (actors/runtime/hosts.py)
    relay: Address | None = None  # on a worker: events go to this actor (the project), for the hub


class Initialize(Request):
    """Create: make the record and `task.created` durable, reply, then provision in the background."""

    task_id: str
    title: str
    branch: str
    branch_given: bool
    prompt: str
    agent: AgentKind
    provider: ProviderKind
    provision: bool = True  # false at the cap of live task actors: the task waits for a slot instead


class Activate(Message):
    """Resume: open an existing task and continue from its first unfinished step."""

    task_id: str


class Provision(Message):
    task_id: str


class TaskInitialized(Request):
    """Task → workspace, on the create path: upsert the projection, then answer the client."""

    created: bool
    record: dict[str, Any]
    summary: TaskSummary  # the projection's row, with the task's host


class TaskEvents(Message):
    """Task → hub (a push, actors/push.py): events just committed, in seq order."""

    kind: Literal["events"] = "events"
    task_id: str
    events: list[dict[str, Any]]
    observed: Observations | None = None


class TaskAction(StrEnum):
    resume = "resume"  # skip a pending backoff
    retry = "retry"  # from error: the failed step again, with a fresh attempt budget
    follow = "follow"  # the asker gets every event committed from now on (TaskEvents), until at rest
    unfollow = "unfollow"
    archive = "archive"  # from running, idle or error: branch kept in the mirror, the rest released
    kill = "kill"  # from any status but killed: agent, checkout, branch and reservation all gone
    delete = "delete"  # from archived or killed: the task's database and logs removed
    revive = "revive"  # start-up, for a running task whose agent is gone: agent and session again
    say = "say"  # running or idle: a follow-up prompt (`text`), durable before it is answered


class TaskCommand(Request):
    """Admin (or the web process) → workspace → project → the task's actor, activated if need be."""

    task_id: str
    action: TaskAction
    text: str | None = None  # say: the prompt
    idempotency_key: str | None = None  # say: a replay gets the same message


class MessageAccepted(Reply):
    """A follow-up is durable (its `session.prompt` committed); it is sent after the answer."""

    task_id: str
    message_id: str
    created: bool  # false: a replay of the same Idempotency-Key and text


class CommandDone(Reply):
    task_id: str
    status: str  # the task's status once the command took effect
    changed: bool  # false: nothing to do (e.g. resume while a step is already running)


class ReadTask(Request):
    """Web process or admin → workspace → project → the mirror actor on the task's host, which reads its
    database: the reader interface, for a task whose database is on another host."""

    task_id: str
    after: int = 0  # events with a higher seq
    limit: int = 0  # at most this many events (0: the record alone)


class TaskRead(Reply):
    record: dict[str, Any]
    events: list[dict[str, Any]]
