"""The plumbing under TaskActor: binding, becoming a task's single writer, and publishing what it
committed. The lifecycle itself (actors/task/actor.py) reads top to bottom without it.
"""

import fcntl
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from actors import logs
from actors.faults import crash_point
from actors.observe import Observer
from actors.offload import OffloadingActor
from actors.providers.base import Provider, TaskContext
from actors.push import Pusher
from actors.runtime.work import call
from actors.task.reads import summary_from_record
from actors.task.store import TaskStore, prepare_database, task_db_path
from actors.task.wakeups import ProjectDue
from schemas.api import TaskSummary
from schemas.messages import Drain, Drained
from schemas.status import AT_REST, TaskStatus
from schemas.task_messages import Bind, TaskEvents
from schemas.workspace_messages import TaskChanged

PROJECTION_GAP_S = 0.1  # a task's summary reaches the workspace at most this often while it moves


class TaskActorBase(OffloadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.bound: Bind | None = None
        self.pusher: Pusher | None = None
        self.provider: Provider | None = None
        self.task_id: str | None = None
        self.store: TaskStore | None = None
        self.lock_fd: int | None = None
        self.log: Any = logs.get()
        self.changed = False  # committed, not yet told to the workspace
        self.projected_at = 0.0  # monotonic time of the last summary sent to the workspace
        self.projection_due = False  # a wakeup will send the summary changed meanwhile
        self.observer = Observer("task")
        self.frozen = False  # stopped at an injected crash point (actors/faults.py)
        self.draining: Drain | None = None  # set: no new step starts; answered once none is in flight
        self.followers: list[Any] = []  # admin endpoints following the history live (not hashable)

    def receiveMessage(self, msg: Any, sender: Any) -> Any:
        if self.frozen:
            return None  # at an injected crash point: waiting to be killed
        self.observer.handling(msg)
        watch = super().receiveMessage(msg, sender)
        self._flush()
        return watch

    def receiveMsg_Bind(self, msg: Bind, sender: Any) -> None:
        s = msg.settings
        logs.configure_actor(s)
        self.bound = msg
        self.pusher = Pusher.shared(msg.settings.hub_socket) if msg.relay is None else None
        self.start_offload()
        self.log = logs.get(actor="task", workspace=msg.workspace, project=msg.project, pid=os.getpid())

    def receiveMsg_Drain(self, msg: Drain, sender: Any) -> None:
        """Shutdown: start no new step, and answer once none is in flight. The task resumes from its
        persisted steps at the next start, as after a crash."""
        self.draining = msg.model_copy(update={"reply_to": msg.reply_to or sender})

    def _answer_drain(self) -> None:
        if self.draining is not None and self.draining.reply_to is not None:
            self.send(self.draining.reply_to, Drained(request_id=self.draining.request_id))
            self.draining = self.draining.model_copy(update={"reply_to": None})  # answered, still draining

    def _crash_point(self, step: TaskStatus, point: str) -> bool:
        assert self.bound
        s, here = self.bound.settings, f"{step.value}:{point}"
        self.frozen = self.frozen or crash_point(s.crash_at, here, s.data_dir)
        return self.frozen

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Any) -> None:
        """Passivated, or shut down: the task lives on in its database. Its last summary goes out, its
        lock last of all, so that the next actor for the task opens it only once this one let go."""
        self._project(at_once=True)
        if self.offload:
            self.offload.close()
        if self.store:
            self.store.close()
            self.store = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def _open(self, task_id: str, create: bool) -> None:
        """Become the task's single writer: its lock first, so a stale copy can never write beside us."""
        if self.task_id == task_id:
            return
        assert self.bound and self.task_id is None, "a task actor serves one task"
        s = self.bound.settings
        self.store, self.lock_fd = take_task(s.data_dir, task_id, create, s.sqlite_synchronous)
        self.task_id = task_id
        self.log = self.log.bind(task_id=task_id)

    def _context(self) -> TaskContext:
        assert self.store and self.bound and self.task_id
        record = self.store.record()
        named = self.store.step(TaskStatus.init_ensure_name)
        agent = self.store.step(TaskStatus.init_ensure_agent)
        return TaskContext(
            task_id=self.task_id,
            workspace=self.bound.workspace,
            project=self.bound.project,
            branch=record["branch"],
            prompt=record["prompt"],
            agent=record["agent"],
            data=self.bound.settings.data_dir,
            mirror=self.bound.mirror,
            settings=self.bound.settings,
            branch_exists=bool(named["result"] and json.loads(named["result"]).get("existing")),
            sandbox=record["sandbox"],
            agent_info=json.loads(agent["result"]) if agent["result"] else None,
        )

    # ---- step work (off the mailbox: actors/runtime/work.py) -------------------------------------

    async def _named(self, ctx: TaskContext) -> dict[str, Any]:
        assert self.provider and self.store
        await call(self.provider.ensure_name, ctx)
        record = self.store.record()
        return {"title": record["title"], "branch": record["branch"], "existing": False, "base": None}

    async def _destroy(self, ctx: TaskContext) -> dict[str, Any]:
        assert self.provider
        await call(self.provider.destroy, ctx)
        return {}

    async def _open_session_and_prompt(self, ctx: TaskContext) -> dict[str, Any]:
        """The prompt goes at most once: its send is recorded before it is made, and never repeated."""
        assert self.provider and self.store
        session_id = await call(self.provider.open_session, ctx)
        if self.store.prompt_sent_at() is None:
            self.store.mark_prompt_sent()
            await call(self.provider.send_prompt, ctx, session_id)
        return {"session_id": session_id}

    # ---- publishing ------------------------------------------------------------------------------

    def _publish(self) -> None:
        """After a commit that changed the summary: the workspace hears of it once the message is done."""
        self.changed = True

    def _flush(self) -> None:
        """Once a message is handled: what it committed goes out once, however many transactions it
        took (a step's result and the next step's start): its events to the hub in one push (and to
        any admin following), the latest summary to the workspace's projection in one tell."""
        if self.store is None or self.task_id is None or self.bound is None:
            return
        events = self.store.take_events()
        if events:
            news = TaskEvents(task_id=self.task_id, events=events, observed=self.observer.take())
            if self.pusher is not None:
                self.pusher.push(news)
            elif self.bound.relay is not None:  # on a worker: the hub is on the leader
                self.send(self.bound.relay, news)
            for follower in self.followers:
                self.send(follower, news)
        if self.changed:
            self._project(at_once=False)

    def _project(self, at_once: bool) -> None:
        """The latest summary to the workspace's projection: at once at rest, or after a quiet spell;
        otherwise once PROJECTION_GAP_S has passed, with whatever changed meanwhile (a message per step
        cost the workspace more than steps of a few ms). The hub's events stay immediate, and a summary
        lost to a crash is sent again when the task resumes (it publishes on activation)."""
        if not self.changed or self.store is None or self.bound is None:
            return
        record = self.store.record()
        wait = self.projected_at + PROJECTION_GAP_S - time.monotonic()
        if wait > 0 and not at_once and TaskStatus(record["status"]) not in AT_REST:
            if not self.projection_due:
                self.projection_due = True
                self.wakeupAfter(timedelta(seconds=wait), payload=ProjectDue())
            return
        self.changed, self.projected_at = False, time.monotonic()
        summary = self._summary(record)
        self.send(self.bound.workspace_addr, TaskChanged(summary=summary, workspace=self.bound.workspace))

    def _summary(self, record: dict[str, Any]) -> TaskSummary:
        assert self.bound
        return TaskSummary.model_validate({**summary_from_record(record), "host": self.bound.host})


class TaskGone(Exception):
    """The task has no database to open: it was deleted while a command or a resume was on its way."""


def take_task(data: Path, task_id: str, create: bool, synchronous: str) -> tuple[TaskStore, int]:
    """The task's lock, then its database: for a new task an empty one put in place whole (see
    prepare_database), else the one that exists. Returns the open store and the lock's descriptor, held
    while the caller writes. BlockingIOError if another actor holds the task;
    TaskGone if an existing task's database is not there (opened anyway, SQLite would make an empty one,
    and the deleted task would leave files behind)."""
    path = task_db_path(data, task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    if not _lock(fd, wait_s=5.0):  # a predecessor on a worker may still be on its way out
        os.close(fd)
        raise BlockingIOError(f"task {task_id} is held by another actor")
    try:
        if not create and not path.exists():
            lock.unlink(missing_ok=True)  # made by the open above: a deleted task leaves no file
            raise TaskGone(task_id)
        if create and not path.exists():
            prepare_database(path)
        return TaskStore(path, synchronous), fd
    except BaseException:
        os.close(fd)  # not taken: the lock goes too
        raise


def _lock(fd: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def until(moment_iso: str) -> timedelta:
    moment = datetime.fromisoformat(moment_iso.replace("Z", "+00:00"))
    return max(moment - datetime.now(UTC), timedelta(0))
