"""The task actor's decisions, as pure functions: may this action act on a task in this status
(docs/design.md, "Transitions")? Which step runs next? After a failed attempt, when does the next one
come, if at all?"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from actors.db import iso
from schemas.settings import Settings
from schemas.status import AT_REST, DELETABLE, KILL_STEPS, TaskStatus
from schemas.task_messages import TaskAction

ARCHIVABLE = frozenset({TaskStatus.running, TaskStatus.idle, TaskStatus.error})


def refusal(action: TaskAction, status: TaskStatus, draining: bool) -> tuple[int, str] | None:
    """None if allowed; else the HTTP status and the reason (409s carry the task's status)."""
    if action in (TaskAction.follow, TaskAction.unfollow):
        return None
    if draining:
        return 503, "the server is draining; retry after its restart"
    if action is TaskAction.resume and status in AT_REST:
        return 409, f"a task at rest has no step to resume ({status})"
    if action is TaskAction.retry and status is not TaskStatus.error:
        return 409, f"only a task in error can be retried ({status})"
    if action is TaskAction.archive and status not in ARCHIVABLE:
        return 409, f"only a running, idle or failed task can be archived ({status})"
    if action is TaskAction.kill and status is TaskStatus.killed:
        return 409, "the task is already killed"
    if action is TaskAction.revive and status is not TaskStatus.running:
        return 409, f"only a running task is revived ({status})"
    if action is TaskAction.say and status not in (TaskStatus.running, TaskStatus.idle):
        return 409, f"only a running or idle task takes a message ({status})"
    if action is TaskAction.delete and status not in DELETABLE:
        return 409, f"only an archived or killed task can be deleted ({status})"
    return None


def repeated(action: TaskAction, status: TaskStatus) -> bool:
    """A kill while killing: accepted, and nothing more to do."""
    return action is TaskAction.kill and status in KILL_STEPS


def next_step(steps: Sequence[Mapping[str, Any]]) -> TaskStatus | None:
    """The first step left to do (neither done nor cancelled by an archive or kill), in order. None: the
    task is at rest, with no step left, or a failed one waiting for a user's retry."""
    if any(s["status"] == "failed" for s in steps):
        return None
    return next((TaskStatus(s["name"]) for s in steps if s["status"] not in ("done", "cancelled")), None)


def retry_after(attempts: int, permanent: bool, now: datetime, deadline_at: str, s: Settings) -> float | None:
    """Seconds until the next attempt of a step whose attempt `attempts` failed: a backoff doubling from
    backoff_base_s up to backoff_max_s. None: give up, as the error is permanent, the attempts are
    spent, or the next would start past the step's deadline."""
    delay: float = min(s.backoff_base_s * 2 ** (attempts - 1), s.backoff_max_s)
    if permanent or attempts >= s.max_attempts or iso(now + timedelta(seconds=delay)) >= deadline_at:
        return None
    return delay
