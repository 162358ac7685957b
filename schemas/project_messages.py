"""Messages of the ProjectActor (actors/project/actor.py)."""

from pathlib import Path

from schemas.api import Project
from schemas.messages import Address, Message
from schemas.settings import Settings
from schemas.task_messages import Bind


class StartProject(Message):
    project: Project
    settings: Settings
    workspace_addr: Address
    cluster_addr: Address | None = None


class StartMirror(Message):
    project: Project
    bind: Bind  # the host's: its data directory, the mirror's path, the project's address
    scan: list[str] = []  # the project's tasks on this host: which must resume? (HostScanned)


class EnsureMirror(Message):
    """A task asks for a fresh mirror before naming; the MirrorActor answers `reply_to` with MirrorReady."""

    task_id: str
    branch: str
    attempt: int
    reply_to: Address | None = None


class MirrorReady(Message):
    task_id: str
    attempt: int
    mirror: str | None
    default_branch: str | None
    branch_exists: bool
    error: str | None = None


class ActivateTasks(Message):
    task_ids: list[str]


class HostScanned(Message):
    """Mirror → project, once it started on a worker: of the scanned tasks, those to activate (not at
    rest, or with a live agent to follow) and those to revive (running, their agent gone)."""

    host: str
    task_ids: list[str]
    revive: list[str] = []


class Passivate(Message):
    """Task → project: may I go? At rest past its idle timeout; or `queued`: made at the cap of live
    task actors, it waits for a slot (activate it again when one frees); or `resting`: just at rest (it
    goes at once if a task waits for a slot, else it is listed as evictable: gate.py). `routed`: the
    messages the project routed to it that it has handled. The project answers with ActorExitRequest if
    that is all it routed, else with Stay (something is on its way: the actor asks again once at rest);
    a `resting` notice gets no Stay."""

    task_id: str
    routed: int
    queued: bool = False
    resting: bool = False


class Stay(Message):
    """Project → task: not now, a message for you is on its way."""


class Evict(Message):
    """Project → project of the same runner: let this task's actor go, if still at rest: I wait for a
    slot (actors/project/gate.py)."""

    task_id: str


class SlotFree(Message):
    """Project → project of the same runner: a live task actor exited; activate your oldest waiting
    task (actors/project/gate.py)."""


class ProjectIdle(Message):
    """Project → workspace: quiet past its idle timeout and no task live here; may I go? (Single host
    only.)"""

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
    reply_to: Address | None = None


class ReleaseBranch(Message):
    """Task → project, when killed: the branch reservation goes, and (if the task made the branch) the
    branch leaves the mirror. Answered with BranchDone."""

    task_id: str
    branch: str
    drop: bool
    attempt: int
    reply_to: Address | None = None


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
