"""How commands steer a task's step machine (actors/task/actor.py): the TaskCommand handler and what each
command does. Archive, kill and revive replace the steps left with their own; retry restarts the failed
step; resume skips a backoff; delete removes the task's files; follow streams its history to an admin.
actors/task/transitions.py says which command is allowed from which status.
"""

import threading
from typing import Any

from actors.task.base import TaskActorBase
from actors.task.store import remove_task_files
from actors.task.transitions import refusal, repeated
from schemas.messages import Failure
from schemas.project_messages import TaskRemoved
from schemas.status import ARCHIVE_STEPS, KILL_STEPS, REVIVE_STEPS, TaskStatus
from schemas.task_messages import CommandDone, TaskAction, TaskCommand
from schemas.workspace_messages import TaskDeleted


class TaskCommands(TaskActorBase):
    def __init__(self) -> None:
        super().__init__()
        # The attempt in flight; an outcome or wakeup naming any other (step, run) is stale and ignored.
        self.step: TaskStatus | None = None
        self.run = 0
        self.in_flight = False
        self.cancel: threading.Event | None = None  # set to interrupt the provider call in flight
        self.waiting_agent = False  # for an agent slot (the workspace's cap of live agents)
        self.mends = 0  # failed handlers in a row, mended by resuming (TaskActor.handler_failed)
        self.routed = 0  # messages the project routed here, handled (see Passivate)
        self.resting = False  # at rest: no step left to run, or a failed one waiting for a user
        self.slot_wanted = False  # made at the cap of live task actors: waits for a slot without one

    def _activate(self, task_id: str) -> None:
        raise NotImplementedError  # the step machine's

    def _advance(self, resumed: bool) -> None:
        raise NotImplementedError  # the step machine's

    def _attempt(self, step: TaskStatus, resumed: bool) -> None:
        raise NotImplementedError  # the step machine's

    def receiveMsg_TaskCommand(self, msg: TaskCommand, sender: Any) -> None:
        """From the admin script or the HTTP API; a passive task is activated first."""
        reply_to = msg.reply_to or sender
        if self.task_id is None:
            self._activate(msg.task_id)
        if self.store is None:  # deleted, here or before it came: routed before the project heard
            self.send(reply_to, Failure.task_not_found(msg.request_id, msg.task_id))
            return
        self.log.info("task.command", action=msg.action.value, request_id=msg.request_id)
        assert self.task_id
        status = TaskStatus(self.store.record()["status"])
        refused = refusal(msg.action, status, draining=self.draining is not None)
        if refused:
            details = {"status": status.value}
            code = "draining" if refused[0] == 503 else "invalid_transition"
            failure = Failure(request_id=msg.request_id, status=refused[0], code=code, message=refused[1])
            self.send(reply_to, failure.model_copy(update={"details": details}))
            return
        if msg.action is TaskAction.delete:
            self._delete(msg.model_copy(update={"reply_to": reply_to}))
            return
        changed = not repeated(msg.action, status) and self._act(msg.action, reply_to)
        status = TaskStatus(self.store.record()["status"])
        done = CommandDone(request_id=msg.request_id, task_id=self.task_id, status=status, changed=changed)
        self.send(reply_to, done)

    def _act(self, action: TaskAction, reply_to: Any) -> bool:
        if action is TaskAction.follow:
            self.followers.append(reply_to)
        elif action is TaskAction.unfollow:
            self.followers = [f for f in self.followers if f != reply_to]
        elif action is TaskAction.resume:
            return self._skip_backoff()
        elif action is TaskAction.retry:
            self._retry_failed_step()
        elif action is TaskAction.revive:
            return self._revive()
        else:
            self._end_with(ARCHIVE_STEPS if action is TaskAction.archive else KILL_STEPS)
        return True

    def _skip_backoff(self) -> bool:
        """Start the attempt a backoff is waiting for now; its pending wakeup becomes stale."""
        assert self.store
        if self.in_flight or self.step is None or self.store.step(self.step)["status"] != "retrying":
            return False
        self.run += 1
        self._attempt(self.step, resumed=False)
        return True

    def _retry_failed_step(self) -> None:
        assert self.store
        failed = next(TaskStatus(s["name"]) for s in self.store.record()["steps"] if s["status"] == "failed")
        self.store.user_retry(failed)
        self._publish()
        self._advance(resumed=True)

    def _revive(self) -> bool:
        """Start-up found this running task's agent gone (a reboot, an OOM): the agent and its session
        come back through their own steps, their results marked `restarted`; a vanished checkout is an
        error. The prompt is not sent again (it goes at most once)."""
        assert self.store and self.bound and self.task_id
        if self.store.record()["provider"] != "local":
            return False  # sim: no agent to bring back
        checkout = self.bound.settings.data_dir / "sandboxes" / self.task_id
        if not checkout.is_dir():
            self.store.fail(TaskStatus.running, 0, f"the checkout {checkout} is gone")
            self._publish()
            return True
        self._end_with(REVIVE_STEPS)
        return True

    def _end_with(self, steps: tuple[TaskStatus, ...]) -> None:
        """Archive or kill: durable at once, and it takes over now. A step in flight is interrupted
        (its waits end) and its outcome ignored; the new steps run after it on the same worker, so
        they clean up whatever it had made."""
        assert self.store
        self.store.replace_remaining(steps)
        if self.cancel is not None:
            self.cancel.set()
        self.in_flight = False
        self.run += 1  # the interrupted attempt's outcome and wakeups are stale from now on
        self._publish()
        self._advance(resumed=True)

    def _delete(self, msg: TaskCommand) -> None:
        """The task's files go first, then the workspace forgets it and answers the client (so the
        task is gone from every read once the client hears so); the project then lets the actor go."""
        assert self.store and self.bound and self.task_id
        self.store.close()
        self.store = None
        remove_task_files(self.bound.settings.data_dir, self.task_id)
        self.send(self.bound.project_addr, TaskRemoved(task_id=self.task_id))
        deleted = TaskDeleted(request_id=msg.request_id, reply_to=msg.reply_to, task_id=self.task_id)
        self.send(self.bound.workspace_addr, deleted)
