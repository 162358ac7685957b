"""TaskActor: the single writer of one task's database, and its provisioning step machine.

Lifecycle, top to bottom:
  Bind        → who it reports to (its project makes it when a message for the task needs it).
  Initialize  → record + `task.created` durable, reply (via the workspace), then tell itself Provision.
  Activate    → (after a restart, or a passivation) open the task and tell itself Provision.
  Provision   → run the first step that is not done; each step is a method named after its status:
                init_ensure_name → init_create_sandbox → init_ensure_agent → init_create_session → running.
Each step: enter (`task.status`, persisted) → work off the message loop → finish (result + result event in
one transaction) → next step. A transient failure schedules a retry (`task.retry`, backoff by wakeupAfter);
a permanent one, too many attempts or the step deadline end in `error`.
Commands (TaskCommand, from the admin script or HTTP, allowed as transitions.py says) replace the steps
left with their own, persisted and resumed like provisioning:
  archive_release_sandbox → archive_finalize → archived;   kill_destroy_sandbox → kill_finalize → killed.
A running task whose agent died gets init_ensure_agent → init_create_session → running again (revive).
A handler that fails mid-step (a write: a full disk) drops the attempt and resumes from the database after
a backoff, as after a crash (handler_failed).
Local agents count against the workspace's cap: init_ensure_agent waits for a slot (AgentSlot) first.
Drain: no new step starts; answered between steps.
After `running` (talk.py, a part of this actor): the actor follows the agent's ACP stream, recording each
burst it reads as `session.update` events in one transaction, and stays live while it does; a follow-up
(`say`) is committed as `session.prompt`, answered, then sent at most once.
At rest for CRUCIBLE_IDLE_TIMEOUT_S, the actor asks its project to go (Passivate, with the count of messages
the project routed to it); the project answers ActorExitRequest, or Stay if a message for it is on its way.
The next message for the task makes another actor, which opens the task where this one left it.
"""

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from thespian.actors import WakeupMessage, WatchMessage

from actors import logs
from actors.db import iso, parse, until, utcnow
from actors.faults import crash_point
from actors.guard import GuardedActor
from actors.offload import Offloader
from actors.providers import make_provider
from actors.providers.base import PermanentError, Provider
from actors.task import steps
from actors.task.lock import TaskGone, take_task
from actors.task.publish import Publisher
from actors.task.store import TaskStore, initial_fields, record_updates, remove_task_files
from actors.task.talk import Talk
from actors.task.transitions import next_step, refusal, repeated, retry_after
from actors.task.wakeups import (
    DeadlineDue,
    FollowDue,
    IdleDue,
    ProjectDue,
    ResumeDue,
    RetryDue,
    TaskWakeup,
)
from schemas.messages import Address, Drain, Drained, Failure
from schemas.project_messages import (
    AgentSlot,
    AgentSlotGranted,
    AgentSlotQueued,
    BranchDone,
    EnsureMirror,
    KeepBranch,
    MirrorReady,
    Passivate,
    ReleaseBranch,
    Stay,
    TaskRemoved,
)
from schemas.status import ARCHIVE_STEPS, KILL_STEPS, RESULT_EVENT, REVIVE_STEPS, EventKind, TaskStatus
from schemas.task_messages import (
    Activate,
    Bind,
    CommandDone,
    Initialize,
    Provision,
    TaskAction,
    TaskCommand,
    TaskInitialized,
)
from schemas.workspace_messages import TaskDeleted


class TaskActor(GuardedActor):
    SPREADS = True  # made on the machine's runners in turn (actors/runtime/runner.py, spawn)

    def __init__(self) -> None:
        super().__init__()
        self.bound: Bind | None = None
        self.offload: Offloader | None = None  # its steps' work, off the mailbox (actors/offload.py)
        self.news: Publisher | None = None
        self.provider: Provider | None = None
        self.task_id: str | None = None
        self.store: TaskStore | None = None
        self.lock_fd: int | None = None
        self.log: Any = logs.get()
        # The attempt in flight; an outcome or wakeup naming any other (step, run) is stale and ignored.
        self.step: TaskStatus | None = None
        self.run = 0
        self.in_flight = False
        self.cancel: threading.Event | None = None  # set to interrupt the provider call in flight
        self.waiting_agent = False  # for an agent slot (the workspace's cap of live agents)
        self.mends = 0  # failed handlers in a row, mended by resuming (see handler_failed)
        self.routed = 0  # messages the project routed here, handled (see Passivate)
        self.resting = False  # at rest: no step left to run, or a failed one waiting for a user
        self.slot_wanted = False  # made at the cap of live task actors: waits for a slot without one
        self.projection_due = False  # a wakeup will send the summary changed meanwhile
        self.frozen = False  # stopped at an injected crash point (actors/faults.py)
        self.draining: Drain | None = None  # set: no new step starts; answered once none is in flight
        self.talk: Talk | None = None  # the conversation after running (talk.py)

    # ---- messages -------------------------------------------------------------------------------

    def receiveMessage(self, msg: Any, sender: Address) -> Any:
        if self.frozen:
            return None  # at an injected crash point: waiting to be killed
        if self.news is not None:
            self.news.observer.handling(msg)
        if isinstance(msg, Initialize | Activate | TaskCommand):
            self.routed += 1  # by the project: see Passivate
        watch = super().receiveMessage(msg, sender)
        self._flush()
        if self.draining is not None and not self.in_flight:
            self._answer_drain()  # between steps: a persisted boundary
        if self.resting and self.store is not None and not (self.talk and self.talk.stream):
            self.store.rest()  # its lock stays held: the actor is still the task's only writer
        return watch

    def receiveMsg_Bind(self, msg: Bind, sender: Address) -> None:
        logs.configure_actor(msg.settings)
        self.bound = msg
        self.news = Publisher(msg, self.send)
        self.offload = self._myRef.offloader()
        self.talk = Talk(self, self._myRef.offloader())
        self.log = logs.get(actor="task", workspace=msg.workspace, project=msg.project, pid=os.getpid())

    def receiveMsg_Initialize(self, msg: Initialize, sender: Address) -> None:
        try:
            self._open(msg.task_id, create=True)
        except BlockingIOError:
            busy = Failure(
                request_id=msg.request_id, status=503, code="task_busy", message="task busy; retry"
            )
            self.send(msg.reply_to, busy)
            self._passivate(msg.task_id)  # the actor that holds the task is on its way out
            return
        assert self.store and self.bound and self.news
        fields = initial_fields(msg, self.bound.workspace, self.bound.project)
        created = self.store.create(fields, {k: fields[k] for k in ("prompt", "agent", "provider")})
        self.provider = make_provider(msg.provider, self.bound.settings)
        record = self.store.record()
        self.log.info("task.initialized", created=created, status=record["status"], request_id=msg.request_id)
        reply = TaskInitialized(
            request_id=msg.request_id,
            reply_to=msg.reply_to,
            created=created,
            record=record,
            summary=self.news.summary(record),
        )
        self.send(self.bound.workspace_addr, reply)
        self.news.projected_at = time.monotonic()
        if not msg.provision and self.store.wait_for_slot():  # at the cap of live task actors
            self.news.changed = True
            self.slot_wanted = True
            self._passivate(msg.task_id)
        else:
            self.send(self.myAddress, Provision(task_id=msg.task_id))

    def receiveMsg_Activate(self, msg: Activate, sender: Address) -> None:
        self._activate(msg.task_id)

    def _activate(self, task_id: str) -> None:
        """Open a passive task and resume it. One deleted while its command or resume was on its way is
        held as a deleted one: no store, every command answered 404, and the project told it is gone, so
        that it lets this actor go."""
        try:
            self._open(task_id, create=False)
        except TaskGone:
            assert self.bound
            self.task_id = task_id
            self.send(self.bound.project_addr, TaskRemoved(task_id=task_id))
            return
        if self.store is None:
            return  # deleted here
        assert self.bound and self.news
        self.provider = make_provider(self.store.record()["provider"], self.bound.settings)
        self.news.changed = True
        self.send(self.myAddress, Provision(task_id=task_id))

    def receiveMsg_Provision(self, msg: Provision, sender: Address) -> None:
        if msg.task_id == self.task_id and self.store is not None:  # else deleted since
            self._advance(resumed=True)

    def receiveMsg_MirrorReady(self, msg: MirrorReady, sender: Address) -> None:
        if msg.error:
            self._complete(TaskStatus.init_ensure_name, msg.attempt, None, RuntimeError(msg.error))
            return
        if self.store is None:
            return  # late: the task was deleted since it asked
        record = self.store.record()
        result = {"title": record["title"], "branch": record["branch"]}
        result |= {"existing": msg.branch_exists, "base": msg.default_branch}
        self._complete(TaskStatus.init_ensure_name, msg.attempt, result, None)

    def receiveMsg_BranchDone(self, msg: BranchDone, sender: Address) -> None:
        """The mirror kept the branch (archive: now the checkout may go) or the project released it (kill)."""
        if msg.error:
            if self.step is not None:  # else late: the task was deleted since it asked
                self._complete(self.step, msg.attempt, None, RuntimeError(msg.error))
        elif self.step is TaskStatus.archive_release_sandbox and msg.attempt == self.run:
            assert self.provider
            work = partial(steps.destroyed, self.provider)
            self._offload(TaskStatus.archive_release_sandbox, msg.attempt, work)
        else:
            self._complete(TaskStatus.kill_finalize, msg.attempt, {}, None)

    def receiveMsg_AgentSlotQueued(self, msg: AgentSlotQueued, sender: Address) -> None:
        if self._expects_agent_slot(msg.task_id, msg.attempt):
            assert self.store and self.news
            self.store.wait_for_agent(msg.ahead)
            self.news.changed = True
            self.waiting_agent = True  # no step deadline while waiting its turn

    def receiveMsg_AgentSlotGranted(self, msg: AgentSlotGranted, sender: Address) -> None:
        if self._expects_agent_slot(msg.task_id, msg.attempt):
            assert self.provider
            self.waiting_agent = False
            self._offload(TaskStatus.init_ensure_agent, msg.attempt, self.provider.ensure_agent)

    def _expects_agent_slot(self, task_id: str, attempt: int) -> bool:
        current = (self.task_id, self.run, self.step, self.in_flight)
        return current == (task_id, attempt, TaskStatus.init_ensure_agent, True)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Address) -> None:
        wakeup: TaskWakeup = msg.payload
        match wakeup:
            case ProjectDue():
                self.projection_due = False
                if self.news and self.store:  # the gap has passed: what changed meanwhile goes now
                    self.news.project(self.store, at_once=True)
            case IdleDue(run) if run == self.run and not self.in_flight:
                self._passivate(self.task_id)
            case RetryDue(step, run) if (step, run) == (self.step, self.run) and self.draining is None:
                self._attempt(step, resumed=False)
            case ResumeDue(step, run) if (step, run) == (self.step, self.run):
                self._advance(resumed=True)
            case DeadlineDue(step, run) if (step, run) == (self.step, self.run):
                if self.in_flight and not self.waiting_agent:
                    self._give_up(step, "step deadline exceeded")
            case FollowDue(run) if run == self.run and self.resting:
                self._idle()
            # Anything else is stale: its attempt already finished, failed or was superseded.

    def receiveMsg_Stay(self, msg: Stay, sender: Address) -> None:
        """A message routed here was on its way when this actor asked to go: it has been handled now.
        Still at rest (or still waiting for a slot), ask again; else the step it started will."""
        if self.slot_wanted:
            self._passivate(self.task_id)
        elif self.store is not None and not self.in_flight and self.resting:
            self._idle()

    def receiveMsg_Drain(self, msg: Drain, sender: Address) -> None:
        """Shutdown: start no new step, and answer once none is in flight. The task resumes from its
        persisted steps at the next start, as after a crash."""
        self.draining = msg.model_copy(update={"reply_to": msg.reply_to or sender})

    def receiveMsg_WatchMessage(self, msg: WatchMessage, sender: Address) -> None:
        for work in self._offloaders():
            work.deliver()

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Address) -> None:
        """Passivated, or shut down: the task lives on in its database. Its last summary goes out, its
        lock last of all, so that the next actor for the task opens it only once this one let go."""
        if self.talk:
            self.talk.stop()
        if self.news and self.store:
            self.news.project(self.store, at_once=True)
        for work in self._offloaders():
            work.close()
        if self.store:
            self.store.close()
            self.store = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def handler_failed(self, msg: Any, sender: Address, exc: Exception) -> None:
        """A handler failed (a write on a full disk, most likely), and a request got the failure as its
        answer. A create that failed lets this actor go; a record it wrote lives on in its database like
        any passive task's. Mid-step, the attempt in memory is dropped and the task resumes from its
        database after a backoff that doubles while writes keep failing: safe for the reason a restart
        is, as every step is idempotent and adopts what an interrupted attempt made. Without this the
        step stayed `started` with nothing in flight, and the create's actor held its slot, until a
        restart."""
        super().handler_failed(msg, sender, exc)
        if self.bound is None:
            return
        if isinstance(msg, Initialize) and self.step is None:  # not a replay to a task under way
            self._passivate(msg.task_id)
        elif self.store is not None and self.step is not None:
            s = self.bound.settings
            delay = min(s.backoff_max_s, s.backoff_base_s * 2**self.mends)
            self.in_flight, self.run, self.mends = False, self.run + 1, self.mends + 1
            self.after(delay, ResumeDue(self.step, self.run))

    # ---- commands -------------------------------------------------------------------------------

    def receiveMsg_TaskCommand(self, msg: TaskCommand, sender: Address) -> None:
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
        if msg.action is TaskAction.say:
            assert self.talk
            self.talk.say(msg, reply_to)
            return
        changed = not repeated(msg.action, status) and self._act(msg.action, reply_to)
        status = TaskStatus(self.store.record()["status"])
        done = CommandDone(request_id=msg.request_id, task_id=self.task_id, status=status, changed=changed)
        self.send(reply_to, done)

    def _act(self, action: TaskAction, reply_to: Address) -> bool:
        assert self.store and self.news
        if action is TaskAction.follow:
            self.news.followers.append(reply_to)
        elif action is TaskAction.unfollow:
            self.news.followers = [f for f in self.news.followers if f != reply_to]
        elif action is TaskAction.resume:  # a backoff's wait skipped: its pending wakeup goes stale
            if self.in_flight or self.step is None or self.store.step(self.step)["status"] != "retrying":
                return False
            self.run += 1
            self._attempt(self.step, resumed=False)
        elif action is TaskAction.retry:
            steps_now = self.store.record()["steps"]
            failed = next(TaskStatus(s["name"]) for s in steps_now if s["status"] == "failed")
            self.store.user_retry(failed)
            self.news.changed = True
            self._advance(resumed=True)
        elif action is TaskAction.revive:
            return self.revive()
        else:
            self._end_with(ARCHIVE_STEPS if action is TaskAction.archive else KILL_STEPS)
        return True

    def revive(self) -> bool:
        """Start-up found this running task's agent gone (a reboot, an OOM): the agent and its session
        come back through their own steps, their results marked `restarted`; a vanished checkout is an
        error. The prompt is not sent again (it goes at most once)."""
        assert self.store and self.bound and self.news and self.task_id
        if self.store.record()["provider"] != "local":
            return False  # sim: no agent to bring back
        checkout = self.bound.settings.data_dir / "sandboxes" / self.task_id
        if not checkout.is_dir():
            self.store.fail(TaskStatus.running, 0, f"the checkout {checkout} is gone")
            self.news.changed = True
            return True
        self._end_with(REVIVE_STEPS)
        return True

    def _end_with(self, new_steps: tuple[TaskStatus, ...]) -> None:
        """Archive or kill: durable at once, and it takes over now. A step in flight is interrupted
        (its waits end) and its outcome ignored; the new steps run after it on the same worker, so
        they clean up whatever it had made."""
        assert self.store and self.news and self.talk
        self.talk.stop()
        self.store.replace_remaining(new_steps)
        if self.cancel is not None:
            self.cancel.set()
        self.in_flight = False
        self.run += 1  # the interrupted attempt's outcome and wakeups are stale from now on
        self.news.changed = True
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

    # ---- the step machine -----------------------------------------------------------------------

    def _advance(self, resumed: bool) -> None:
        """Run the first step left to do (not done, not cancelled by an archive or kill), unless one is
        in flight; with none left, or a failed one waiting for a user's retry, the task is at rest."""
        assert self.store
        if self.in_flight:
            return
        self.resting = self.slot_wanted = False
        if self.draining is not None:
            return  # a persisted boundary: stop here (receiveMessage answers the drain)
        step = next_step(self.store.record()["steps"])
        if step is None:
            self._idle()
            return
        row = self.store.step(step)
        self.step, self.run = step, self.run + 1
        if row["status"] == "retrying" and row["next_at"] and row["next_at"] > utcnow():
            # A backoff that survived a restart: wait out the rest of it.
            self.wakeupAfter(until(row["next_at"]), payload=ResumeDue(step, self.run))
            return
        self._attempt(step, resumed=resumed or row["status"] == "pending")

    def _attempt(self, step: TaskStatus, resumed: bool) -> None:
        """Start one attempt. Entering (or re-entering after a restart) emits `task.status`."""
        assert self.store and self.bound and self.news
        if self.at_crash_point(f"{step.value}:before"):
            return
        attempt = self.store.step(step)["attempts"] + 1
        if resumed:
            deadline = datetime.now(UTC) + timedelta(seconds=self.bound.settings.step_deadline_s)
            self.store.enter(step, attempt, iso(deadline))
            self.after(self.bound.settings.step_deadline_s, DeadlineDue(step, self.run))
            self.news.changed = True
        else:
            self.store.begin_attempt(step, attempt)
        self.in_flight = True
        self.log.info("step.start", task_id=self.task_id, step=step.value, attempt=attempt)
        getattr(self, step.value)(self.run)

    def init_ensure_name(self, run: int) -> None:
        assert self.bound and self.provider and self.store and self.task_id
        if self.provider.uses_mirror:
            branch = self.store.record()["branch"]
            self.send(self.bound.project_addr, EnsureMirror(task_id=self.task_id, branch=branch, attempt=run))
        else:
            self._offload(TaskStatus.init_ensure_name, run, partial(steps.named, self.provider, self.store))

    def init_create_sandbox(self, run: int) -> None:
        assert self.provider
        self._offload(TaskStatus.init_create_sandbox, run, self.provider.create_sandbox)

    def init_ensure_agent(self, run: int) -> None:
        """Local agents count against the workspace's cap: a slot first (sim tasks have no agent)."""
        assert self.provider and self.bound and self.task_id
        if self.provider.uses_mirror:
            self.send(self.bound.workspace_addr, AgentSlot(task_id=self.task_id, attempt=run))
        else:
            self._offload(TaskStatus.init_ensure_agent, run, self.provider.ensure_agent)

    def init_create_session(self, run: int) -> None:
        assert self.provider and self.store
        work = partial(steps.prompted, self.provider, self.store)
        self._offload(TaskStatus.init_create_session, run, work)

    def running(self, run: int) -> None:
        self._complete(TaskStatus.running, run, {}, None)

    def archive_release_sandbox(self, run: int) -> None:
        """The branch goes into the mirror (by its only writer) before the checkout goes."""
        assert self.bound and self.provider and self.store and self.task_id
        if not self.provider.uses_mirror:
            self._offload(TaskStatus.archive_release_sandbox, run, partial(steps.destroyed, self.provider))
            return
        record = self.store.record()
        checkout = self.bound.settings.data_dir / "sandboxes" / self.task_id
        keep = KeepBranch(task_id=self.task_id, branch=record["branch"], checkout=checkout, attempt=run)
        self.send(self.bound.project_addr, keep)

    def archive_finalize(self, run: int) -> None:
        assert self.store
        self._complete(TaskStatus.archive_finalize, run, {"branch": self.store.record()["branch"]}, None)

    def archived(self, run: int) -> None:
        self._complete(TaskStatus.archived, run, {}, None)

    def kill_destroy_sandbox(self, run: int) -> None:
        assert self.provider
        self._offload(TaskStatus.kill_destroy_sandbox, run, partial(steps.destroyed, self.provider))

    def kill_finalize(self, run: int) -> None:
        """The reservation goes, and the branch leaves the mirror unless it was the repository's own."""
        assert self.bound and self.provider and self.store and self.task_id
        made = not steps.context(self.store, self.bound, self.task_id).branch_exists
        branch = self.store.record()["branch"]
        release = ReleaseBranch(
            task_id=self.task_id, branch=branch, drop=made and self.provider.uses_mirror, attempt=run
        )
        self.send(self.bound.project_addr, release)

    def killed(self, run: int) -> None:
        self._complete(TaskStatus.killed, run, {}, None)

    # ---- outcomes -------------------------------------------------------------------------------

    def _offload(self, step: TaskStatus, run: int, fn: Any) -> None:
        """The step's work, given the task's context, off the mailbox; its outcome completes the step."""
        assert self.offload and self.store and self.bound and self.task_id
        ctx = steps.context(self.store, self.bound, self.task_id)
        self.cancel = ctx.cancelled
        self.offload.submit(lambda result, error: self._complete(step, run, result, error), fn, ctx)

    def _complete(
        self, step: TaskStatus, run: int, result: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if run != self.run or step != self.step or not self.in_flight:
            return  # a late outcome of an attempt that was given up (its task since deleted, perhaps)
        assert self.store and self.bound and self.news
        self.in_flight = False
        row = self.store.step(step)
        if error is None:
            assert result is not None
            if step in REVIVE_STEPS[:2] and self.store.has_event(EventKind.initialized):
                result = {**result, "restarted": True}
            if self.at_crash_point(f"{step.value}:after_effect"):
                return
            self.store.finish(step, RESULT_EVENT.get(step), result, record_updates(step, result))
            self.mends = 0  # written: see handler_failed
            if self.at_crash_point(f"{step.value}:after_persist"):
                return
            self.log.info("step.done", task_id=self.task_id, step=step.value, attempt=row["attempts"])
            self.news.observer.step_done(step.value, time.time() - parse(row["started_at"]))
            self.news.changed = True
            self._advance(resumed=True)
            return
        message = str(error) or type(error).__name__
        self.news.observer.provider_error(step.value)
        now, permanent = datetime.now(UTC), isinstance(error, PermanentError)
        delay = retry_after(row["attempts"], permanent, now, row["deadline_at"], self.bound.settings)
        if delay is None:
            self._give_up(step, message)
            return
        self.log.warning(
            "step.retry", task_id=self.task_id, step=step.value, attempt=row["attempts"], error=message
        )
        self.store.schedule_retry(step, row["attempts"], message, iso(now + timedelta(seconds=delay)))
        self.news.changed = True
        self.after(delay, RetryDue(step, self.run))

    def _give_up(self, step: TaskStatus, message: str) -> None:
        assert self.store and self.news
        self.in_flight = False
        self.run += 1  # whatever is still running for this step is now stale
        self.log.error("step.failed", task_id=self.task_id, step=step.value, error=message)
        self.store.fail(step, self.store.step(step)["attempts"], message)
        self.news.changed = True
        self._idle()

    # ---- rest, passivation, plumbing ------------------------------------------------------------

    def _idle(self) -> None:
        """At rest: a running task follows its agent's stream, and stays; otherwise the project hears
        so (it may let this actor go at once, for a task that waits for a slot), and the actor
        passivates unless something happens within the idle timeout (reads need no actor)."""
        assert self.bound and self.task_id and self.talk
        self.resting = True
        self.run += 1
        self.talk.send_next()
        if self.talk.follow():
            return
        ask = Passivate(task_id=self.task_id, routed=self.routed, resting=True)
        self.send(self.bound.project_addr, ask)
        self.after(self.bound.settings.idle_timeout_s, IdleDue(self.run))

    def _passivate(self, task_id: str | None) -> None:
        assert self.bound and task_id
        ask = Passivate(task_id=task_id, routed=self.routed, queued=self.slot_wanted)
        self.send(self.bound.project_addr, ask)

    def _open(self, task_id: str, create: bool) -> None:
        """Become the task's single writer (lock.py)."""
        if self.task_id == task_id:
            return
        assert self.bound and self.task_id is None, "a task actor serves one task"
        s = self.bound.settings
        self.store, self.lock_fd = take_task(s.data_dir, task_id, create, s.sqlite_synchronous)
        self.task_id = task_id
        self.log = self.log.bind(task_id=task_id)

    def _flush(self) -> None:
        """Once a message is handled, what it committed goes out (publish.py); a summary that must wait
        for the projection's gap goes at a wakeup."""
        if self.news is None or self.store is None or self.task_id is None:
            return
        wait = self.news.flush(self.store, self.task_id)
        if wait > 0 and not self.projection_due:
            self.projection_due = True
            self.after(wait, ProjectDue())

    def _answer_drain(self) -> None:
        if self.draining is not None and self.draining.reply_to is not None:
            self.send(self.draining.reply_to, Drained(request_id=self.draining.request_id))
            self.draining = self.draining.model_copy(update={"reply_to": None})  # answered, still draining

    def after(self, seconds: float, wakeup: TaskWakeup) -> None:
        self.wakeupAfter(timedelta(seconds=seconds), payload=wakeup)

    def _offloaders(self) -> list[Offloader]:
        listening = self.talk.listening if self.talk else None
        return [work for work in (self.offload, listening) if work is not None]

    def at_crash_point(self, here: str) -> bool:
        assert self.bound
        s = self.bound.settings
        self.frozen = self.frozen or crash_point(s.crash_at, here, s.data_dir)
        return self.frozen
