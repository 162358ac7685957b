"""What a task actor's wakeups (thespian's wakeupAfter) carry: one type per reason. Wakeups cannot be
cancelled, so each attempt-bound one names its step and run (the attempt number), and a wakeup whose
attempt has since finished, failed or been superseded is recognised as stale and ignored."""

from dataclasses import dataclass

from schemas.status import TaskStatus


@dataclass(frozen=True)
class ProjectDue:
    """The summary's quiet gap has passed: what changed meanwhile goes to the workspace now."""


@dataclass(frozen=True)
class IdleDue:
    """Still at rest after the idle timeout (unless `run` moved on): the actor offers to passivate."""

    run: int


@dataclass(frozen=True)
class RetryDue:
    """A backoff ended: the step's next attempt starts."""

    step: TaskStatus
    run: int


@dataclass(frozen=True)
class ResumeDue:
    """Resume from the database: after a backoff that survived a restart, or after a failed handler."""

    step: TaskStatus
    run: int


@dataclass(frozen=True)
class DeadlineDue:
    """The step's deadline passed: if its attempt is still in flight, the task ends in error."""

    step: TaskStatus
    run: int


@dataclass(frozen=True)
class FollowDue:
    """The agent's stream ended: look again (unless `run` moved on)."""

    run: int


TaskWakeup = ProjectDue | IdleDue | RetryDue | ResumeDue | DeadlineDue | FollowDue
