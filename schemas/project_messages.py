"""Messages of the ProjectActor (actors/project/actor.py)."""

from pathlib import Path
from typing import Any

from schemas.api import Project
from schemas.messages import Message
from schemas.settings import Settings
from schemas.task_messages import Bind


class StartProject(Message):
    project: Project
    settings: Settings
    workspace_addr: Any
    cluster_addr: Any = None
    live_tasks: int  # its share of the workspace's live task actors (see LiveTasks)


class LiveTasks(Message):
    """Workspace → project: its share of the workspace's cap of live task actors, anew (a project
    started using task actors, stopped, or went). The projects in use share the cap equally; one not in
    use holds the share it would have once in use. At least one."""

    share: int


class ProjectInUse(Message):
    """Project → workspace: it now has (or no longer has) a task actor live or a task waiting for one.
    Only projects in use divide the cap between them."""

    project: str
    in_use: bool


class StartMirror(Message):
    project: Project
    mirror: Path
    settings: Settings


class EnsureMirror(Message):
    """A task asks for a fresh mirror before naming; the MirrorActor answers `reply_to` with MirrorReady."""

    task_id: str
    branch: str
    attempt: int
    reply_to: Any = None


class MirrorReady(Message):
    task_id: str
    attempt: int
    mirror: str | None
    default_branch: str | None
    branch_exists: bool
    error: str | None = None


class ActivateTasks(Message):
    task_ids: list[str]


class StartPool(Message):
    bind: Bind
    size: int
    scan: list[str] = []  # the project's tasks on this host: which must resume? (HostScanned)


class HostScanned(Message):
    """Pool → project, once it started on a host: of the scanned tasks, those to resume (not at rest)
    and those to revive (running, their agent gone)."""

    host: str
    task_ids: list[str]
    revive: list[str] = []


class Taken(Message):
    """Project → pool: one ready actor was put to work; fork a replacement."""


class TaskActorExited(Message):
    """Pool → project: a task actor's process ended."""

    address: Any


class Passivate(Message):
    """Task → project: stop routing to me. At rest and idle; or `resting` (just at rest: the project
    answers at once if tasks wait for a slot or an actor, or half its cap is live, and later if its pool
    runs short); or `queued` (created while the project was at its cap of live task actors: activate me
    again when a slot frees)."""

    task_id: str
    resting: bool = False
    queued: bool = False


class PassivateOk(Message):
    """Project → task: nothing more will be routed to you (anything already sent arrived first)."""


class ProjectIdle(Message):
    """Project → workspace: every kit quiet and no task live here; may I go? (Single host only.)"""

    project: str


class ProjectIdleOk(Message):
    """Workspace → project: messages for you are held from now on; go if still idle (they then start
    a fresh project actor), else say ProjectBusy."""


class ProjectBusy(Message):
    """Project → workspace: busy again after all; send me what you held."""

    project: str


class KeepBranch(Message):
    """Task → project → mirror, when archiving: fetch the task's branch from its checkout into the
    mirror (the mirror's only writer does it). Answered with BranchDone."""

    task_id: str
    branch: str
    checkout: Path
    attempt: int
    reply_to: Any = None


class ReleaseBranch(Message):
    """Task → project, when killed: the branch reservation goes, and (if the task made the branch) the
    branch leaves the mirror. Answered with BranchDone."""

    task_id: str
    branch: str
    drop: bool
    attempt: int
    reply_to: Any = None


class BranchDone(Message):
    task_id: str
    attempt: int
    error: str | None = None


class TaskRemoved(Message):
    """Task → project, on delete: forget its reservation and idempotency key."""

    task_id: str


class AgentSlot(Message):
    """Task → workspace, before it starts an agent (local provider): one of the workspace's live agents.
    Answered AgentSlotGranted, at once or when one frees (AgentSlotQueued meanwhile)."""

    task_id: str
    attempt: int


class AgentFreed(Message):
    """Project → workspace: the task was archived, killed or deleted; its agent slot (if any) frees."""

    task_id: str


class AgentSlotGranted(Message):
    task_id: str
    attempt: int


class AgentSlotQueued(Message):
    task_id: str
    attempt: int
    ahead: int
