"""ProjectActor: owns a project's database (task registry, branch reservations, idempotency keys), and
hands tasks to ready task actors.

  StartProject   → open the database, start the project's MirrorActor and TaskPoolActor.
  CreateTask     → idempotency check, reserve id and branch (durable), hand Initialize to a ready actor.
  ActivateTasks  → start-up: give each task an actor, which resumes it.
  TaskActorReady → a bound actor from the pool: it takes the oldest waiting task, or waits itself.
  EnsureMirror   → passed to the MirrorActor, which answers the task.
  TaskCommand    → to the task's actor, activating one if the task is passive.
  KeepBranch, ReleaseBranch, TaskRemoved → archive, kill, delete: the mirror and the reservations.
  Describe       → (admin) this project's actors; Drain → passed to live task actors, answered when they have.
Nothing here blocks: no fork (the pool forks), no thread, no git (the mirror actor runs git). A fork
taken while another thread holds a lock (tempfile's, a pipe's write end) would leave the child hung.
"""

import bisect
import hashlib
import os
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from thespian.actors import ActorExitRequest, ChildActorExited

from actors import db, logs
from actors.drain import DrainingParent
from actors.mirror import MirrorActor, mirror_path
from actors.pool import TaskPoolActor
from schemas.api import Project
from schemas.messages import ActorInfo, Describe, Described, Failure
from schemas.project_messages import (
    ActivateTasks,
    AgentSlot,
    AgentSlotGranted,
    AgentSlotQueued,
    BranchDone,
    EnsureMirror,
    KeepBranch,
    Passivate,
    PassivateOk,
    ReleaseBranch,
    StartMirror,
    StartPool,
    StartProject,
    Taken,
    TaskActorExited,
    TaskRemoved,
)
from schemas.settings import Settings
from schemas.task_messages import Activate, Bind, Initialize, TaskActorReady, TaskCommand
from schemas.workspace_messages import CreateTask

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL, title TEXT NOT NULL,
  branch TEXT NOT NULL, branch_given INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS branches (branch TEXT PRIMARY KEY, task_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (task_id TEXT PRIMARY KEY);
"""
IDEMPOTENCY_TTL_S = 24 * 3600


def new_task_id() -> str:
    """22 hex characters: milliseconds first, so ids sort by creation time (newest-first lists)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


def derive_title(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "task")
    return first if len(first) <= 60 else first[:57].rstrip() + "..."


def derive_branch(title: str, task_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "task"
    return f"crucible/{slug}-{task_id[-6:]}"


class ProjectActor(DrainingParent):
    def __init__(self) -> None:
        super().__init__()
        self.project: Project | None = None
        self.settings: Settings | None = None
        self.workspace_addr: Any = None
        self.conn: sqlite3.Connection | None = None
        self.mirror = Path()
        self.mirror_actor: Any = None
        self.pool_actor: Any = None
        self.ready: list[Any] = []  # bound task actors with no task yet
        self.waiting: list[tuple[str, Any]] = []  # (task id, message) for want of a ready actor
        self.tasks: dict[str, Any] = {}  # task id → its live actor
        self.forking = 0  # forks asked of the pool actor, not yet ready
        self.agent_waiting: list[tuple[AgentSlot, Any]] = []  # tasks waiting for an agent slot, in order
        self.queued: list[str] = []  # task ids waiting for a slot under the cap, oldest first
        self.since: dict[str, str] = {}  # actor address → when it took its current role
        self.exiting = False
        self.log: Any = logs.get()

    def receiveMsg_StartProject(self, msg: StartProject, sender: Any) -> None:
        p, s = msg.project, msg.settings
        self.project, self.settings, self.workspace_addr = p, s, msg.workspace_addr
        self.since[str(self.myAddress)] = db.utcnow()
        logs.configure_actor(s.data, s.log_format, s.log_level)
        self.log = logs.get(actor="project", workspace=p.workspace, project=p.name, pid=os.getpid())
        path = s.data / "workspaces" / p.workspace / "projects" / f"{p.name}.sqlite"
        self.conn = db.connect(path, SCHEMA, s.sqlite_synchronous)
        self.mirror = mirror_path(s.data, p.workspace, p.name)
        self.mirror_actor = self._create(MirrorActor, "mirror")
        self.send(self.mirror_actor, StartMirror(project=p, mirror=self.mirror, settings=s))
        self._start_pool()

    def receiveMsg_CreateTask(self, msg: CreateTask, sender: Any) -> None:
        assert self.conn and self.settings
        body = msg.body
        body_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        if msg.idempotency_key:
            row = self.conn.execute(
                "SELECT * FROM tasks WHERE idempotency_key = ?", (msg.idempotency_key,)
            ).fetchone()
            if row and _age_s(row["created_at"]) > IDEMPOTENCY_TTL_S:
                self.conn.execute("UPDATE tasks SET idempotency_key = NULL WHERE id = ?", (row["id"],))
                row = None
            if row and row["body_hash"] != body_hash:
                self._refuse(
                    msg,
                    409,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with a different body",
                    {"task_id": row["id"]},
                )
                return
            if row:
                # Replay: Initialize is idempotent, and re-creates the record if a crash lost it.
                self._initialize(msg, row["id"], row["title"], row["branch"], bool(row["branch_given"]))
                return
        task_id = new_task_id()
        title = body.title or derive_title(body.prompt)
        branch = body.branch or derive_branch(title, task_id)
        holder = self.conn.execute("SELECT task_id FROM branches WHERE branch = ?", (branch,)).fetchone()
        if holder:
            self._refuse(
                msg, 409, "branch_taken", f"branch {branch!r} belongs to another task", {"task_id": holder[0]}
            )
            return
        with db.transaction(self.conn) as c:
            c.execute(
                "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task_id, msg.idempotency_key, body_hash, title, branch, int(bool(body.branch)), db.utcnow()),
            )
            c.execute("INSERT INTO branches VALUES (?, ?)", (branch, task_id))
        self._initialize(msg, task_id, title, branch, bool(body.branch))

    def receiveMsg_ActivateTasks(self, msg: ActivateTasks, sender: Any) -> None:
        for task_id in msg.task_ids:
            self._dispatch(task_id, Activate(task_id=task_id))
        self.log.info("tasks.activated", count=len(msg.task_ids))

    def receiveMsg_TaskActorReady(self, msg: TaskActorReady, sender: Any) -> None:
        """A new fork, or a passivated actor back for another task; beyond the pool's size, one exits."""
        assert self.settings
        self.since[str(sender)] = db.utcnow()
        if not msg.recycled:
            self.forking -= 1
        if not self.waiting and len(self.ready) >= self.settings.pool_size:
            self.send(sender, ActorExitRequest())
            return
        if self.waiting:
            task_id = self.waiting[0][0]
            self._assign(task_id, sender)
        else:
            self.ready.append(sender)

    def receiveMsg_EnsureMirror(self, msg: EnsureMirror, sender: Any) -> None:
        self.send(self.mirror_actor, msg.model_copy(update={"reply_to": sender}))

    def receiveMsg_Passivate(self, msg: Passivate, sender: Any) -> None:
        if self.tasks.get(msg.task_id) != sender or (msg.resting and not (self.queued or self.waiting)):
            return  # a stale request; or just at rest, with nobody waiting for its slot or an actor
        del self.tasks[msg.task_id]
        self.send(sender, PassivateOk())
        self.drain_answered(sender)
        if msg.queued:
            bisect.insort(self.queued, msg.task_id)
        self._fill()

    def receiveMsg_TaskActorExited(self, msg: TaskActorExited, sender: Any) -> None:
        self.tasks = {t: a for t, a in self.tasks.items() if a != msg.address}
        self.ready = [a for a in self.ready if a != msg.address]
        self.since.pop(str(msg.address), None)
        self.drain_answered(msg.address)
        self._fill()

    def receiveMsg_TaskCommand(self, msg: TaskCommand, sender: Any) -> None:
        self._dispatch(msg.task_id, msg)

    def receiveMsg_AgentSlot(self, msg: AgentSlot, sender: Any) -> None:
        """Agents outlive task actors (a running task keeps its agent), so their slots are counted here,
        durably, and freed when a task is archived, killed or deleted."""
        assert self.conn and self.settings
        holders = {r[0] for r in self.conn.execute("SELECT task_id FROM agents")}
        if msg.task_id in holders or len(holders) < self.settings.max_live_agents:
            self._grant_agent(msg, sender)
            return
        self.agent_waiting = [(m, a) for m, a in self.agent_waiting if m.task_id != msg.task_id]
        self.agent_waiting.append((msg, sender))
        queued = AgentSlotQueued(task_id=msg.task_id, attempt=msg.attempt, ahead=len(self.agent_waiting) - 1)
        self.send(sender, queued)

    def _grant_agent(self, msg: AgentSlot, addr: Any) -> None:
        assert self.conn
        with db.transaction(self.conn) as c:
            c.execute("INSERT OR IGNORE INTO agents VALUES (?)", (msg.task_id,))
        self.send(addr, AgentSlotGranted(task_id=msg.task_id, attempt=msg.attempt))

    def _free_agent(self, task_id: str) -> None:
        assert self.conn and self.settings
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM agents WHERE task_id = ?", (task_id,))
        self.agent_waiting = [(m, a) for m, a in self.agent_waiting if m.task_id != task_id]  # killed waiting
        held = self.conn.execute("SELECT count(*) FROM agents").fetchone()[0]
        while self.agent_waiting and held < self.settings.max_live_agents:
            self._grant_agent(*self.agent_waiting.pop(0))
            held += 1

    def receiveMsg_KeepBranch(self, msg: KeepBranch, sender: Any) -> None:
        self._free_agent(msg.task_id)  # archived: its agent is being stopped
        self.send(self.mirror_actor, msg.model_copy(update={"reply_to": sender}))

    def receiveMsg_ReleaseBranch(self, msg: ReleaseBranch, sender: Any) -> None:
        """Killed: the reservation goes now; the branch leaves the mirror (by its only writer)."""
        assert self.conn
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM branches WHERE branch = ? AND task_id = ?", (msg.branch, msg.task_id))
        self._free_agent(msg.task_id)
        if msg.drop:
            self.send(self.mirror_actor, msg.model_copy(update={"reply_to": sender}))
        else:
            self.send(sender, BranchDone(task_id=msg.task_id, attempt=msg.attempt))

    def receiveMsg_TaskRemoved(self, msg: TaskRemoved, sender: Any) -> None:
        """Deleted: nothing of the task stays, its idempotency key included (a replay makes a new task)."""
        assert self.conn
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM branches WHERE task_id = ?", (msg.task_id,))
            c.execute("DELETE FROM tasks WHERE id = ?", (msg.task_id,))
        self._free_agent(msg.task_id)

    def drain_children(self) -> list[Any]:
        return list(self.tasks.values())

    def receiveMsg_Describe(self, msg: Describe, sender: Any) -> None:
        assert self.project
        roles = [("project", self.project.name, self.myAddress, str(self.myAddress))]
        roles += [("mirror", "", self.mirror_actor, "mirror"), ("pool", "", self.pool_actor, "pool")]
        roles += [("ready", "", a, str(a)) for a in self.ready]
        roles += [("task", task_id, a, str(a)) for task_id, a in self.tasks.items()]
        actors = [
            ActorInfo(kind=kind, id=name, address=str(addr), since=self.since.get(key, ""))
            for kind, name, addr, key in roles
        ]
        self.send(msg.reply_to or sender, Described(request_id=msg.request_id, actors=actors))

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Any) -> None:
        self.exiting = True  # children exiting now are shutting down, not crashing

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Any) -> None:
        if self.exiting:
            return
        if msg.childAddress == self.mirror_actor:  # it crashed: a fresh one; the mirror is on disk
            assert self.project and self.settings
            self.mirror_actor = self._create(MirrorActor, "mirror")
            self.send(
                self.mirror_actor,
                StartMirror(project=self.project, mirror=self.mirror, settings=self.settings),
            )
        elif msg.childAddress == self.pool_actor:
            self._start_pool()

    # ---- helpers --------------------------------------------------------------------------------

    def _initialize(self, msg: CreateTask, task_id: str, title: str, branch: str, given: bool) -> None:
        assert self.settings
        body = msg.body
        init = Initialize(
            request_id=msg.request_id,
            reply_to=msg.reply_to,
            task_id=task_id,
            title=title,
            branch=branch,
            branch_given=given,
            prompt=body.prompt,
            agent=body.agent,
            provider=body.provider or self.settings.provider,
        )
        self._dispatch(task_id, init)

    def _dispatch(self, task_id: str, msg: Any) -> None:
        """To the task's live actor; else to a ready one; else wait for the pool's next (every actor
        put to work has already been replaced by a fork in flight). At the cap of live task actors a
        resume waits for a slot, in creation order; a create still initializes at once (and then waits
        for its slot without an actor); a command is never kept waiting."""
        if task_id in self.tasks:
            self.send(self.tasks[task_id], msg)
            return
        if self._full() and isinstance(msg, Activate):
            if task_id not in self.queued:
                bisect.insort(self.queued, task_id)  # ids sort by creation time
            return
        if isinstance(msg, Initialize):
            msg = msg.model_copy(update={"provision": not self._full()})
        self.waiting.append((task_id, msg))
        if self.ready:
            self._assign(task_id, self.ready.pop(0))

    def _full(self) -> bool:
        assert self.settings
        return len(self.tasks) + len({t for t, _ in self.waiting}) >= self.settings.max_live_tasks

    def _fill(self) -> None:
        """A slot freed: the oldest task waiting for one is activated (it resumes where it stopped)."""
        while self.queued and not self._full():
            task_id = self.queued.pop(0)
            self._dispatch(task_id, Activate(task_id=task_id))

    def _assign(self, task_id: str, addr: Any) -> None:
        """Give a ready actor its task, with every message waiting for that task, in order."""
        self.tasks[task_id] = addr
        self.since[str(addr)] = db.utcnow()
        if task_id in self.queued:  # activated by a command before its turn came
            self.queued.remove(task_id)
        for msg in [m for t, m in self.waiting if t == task_id]:
            self.send(addr, msg)
        self.waiting = [w for w in self.waiting if w[0] != task_id]
        self._top_up()

    def _top_up(self) -> None:
        """Keep `pool_size` actors ready or on their way: a fork only when recycled ones fall short."""
        assert self.settings
        if len(self.ready) + self.forking < self.settings.pool_size:
            self.forking += 1
            self.send(self.pool_actor, Taken())

    def _create(self, cls: type, role: str) -> Any:
        self.since[role] = db.utcnow()  # by role: a new child's address changes once it is up
        return self.createActor(cls)

    def _start_pool(self) -> None:
        assert self.project and self.settings
        bind = Bind(
            workspace=self.project.workspace,
            project=self.project.name,
            repo=self.project.repo,
            mirror=self.mirror,
            settings=self.settings,
            workspace_addr=self.workspace_addr,
            project_addr=self.myAddress,
        )
        self.pool_actor = self._create(TaskPoolActor, "pool")
        self.forking = self.settings.pool_size
        self.send(self.pool_actor, StartPool(bind=bind, size=self.settings.pool_size))

    def _refuse(self, msg: CreateTask, status: int, code: str, message: str, details: Any = None) -> None:
        self.send(
            msg.reply_to,
            Failure(request_id=msg.request_id, status=status, code=code, message=message, details=details),
        )


def _age_s(iso: str) -> float:
    return time.time() - db.parse(iso)
