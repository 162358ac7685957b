"""WorkspaceActor: owns workspace.sqlite — its projects and the task projection every list reads.

  StartWorkspace  → open the database, reply with the system identity. A project's actor is started when
                    a message is routed to it (one with tasks on workers at once: it resumes them).
  RegisterProject → record the project.
  CreateTask      → forward to the project (the reply comes back through TaskInitialized).
  ProjectIdle     → a quiet project with nothing live may go: its messages are held (ProjectIdleOk) until
                    it has exited (then they start a fresh one) or says ProjectBusy (then they are sent).
  TaskInitialized → the task's record is durable: project it, then answer the client (read-your-writes).
  TaskChanged     → keep the projection current; a newer seq wins, so late or repeated news is harmless.
  TaskDeleted     → out of the projection; the deletion takes a feed cursor of its own (projection.py).
  ResumeTasks     → start-up: hand each project the tasks it must activate (all started first).
  HostState       → a worker left or rejoined: its tasks' rows say so (their own status is kept).
  AgentSlot       → (task, local provider) one of the workspace's live agents, at once or when one frees:
                    AgentFreed (from a project: archived, killed, deleted) grants the oldest waiting.
  TaskCommand, ReadTask → to the task's project (admin script, HTTP).
  Describe        → (admin, /metrics) this workspace and every project's actors: each project is asked and
                    the answer goes once all have (or exited). Drain → the same fan-in (actors/drain.py).
With no project actor live for CRUCIBLE_IDLE_TIMEOUT_S, the workspace sleeps (actors/runtime/runner.py,
Cell.sleep): it leaves memory, its state is on disk, and its next message makes it again from its start.
Handlers are short: a tell to a busy actor blocks its sender, and every task reports here.
"""

import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from thespian.actors import ChildActorExited, WakeupMessage

from actors import db, logs
from actors.drain import DrainingParent, FanIn
from actors.idle import IdleClock
from actors.observe import Observer
from actors.project.actor import ProjectActor
from actors.push import Pusher
from actors.runtime import hosts
from actors.runtime.refs import described
from actors.task.store import task_db_path
from actors.workspace import projection
from actors.workspace.agent_slots import AgentSlots
from schemas.api import Project, TaskSummary, Workspace
from schemas.messages import ActorInfo, Address, Describe, Described, Failure
from schemas.project_messages import (
    ActivateTasks,
    AgentFreed,
    AgentSlot,
    ProjectBusy,
    ProjectIdle,
    ProjectIdleOk,
    StartProject,
)
from schemas.settings import Settings
from schemas.task_messages import CommandDone, ReadTask, TaskCommand, TaskInitialized
from schemas.workspace_messages import (
    CreateTask,
    FeedChanged,
    HostState,
    ProjectRegistered,
    RegisterProject,
    ResumeDispatched,
    ResumeTasks,
    StartWorkspace,
    TaskChanged,
    TaskCreated,
    TaskDeleted,
    WorkspaceStarted,
)


class WorkspaceActor(DrainingParent):
    def __init__(self) -> None:
        super().__init__()
        self.name = ""
        self.settings: Settings | None = None
        self.conn: sqlite3.Connection | None = None
        self.projects: dict[str, Project] = {}
        self.project_addrs: dict[str, Address] = {}  # of the projects with a live actor
        self.held: dict[str, list[Any]] = {}  # by project: its messages, while it may be exiting
        self.pusher: Pusher | None = None
        self.agents: AgentSlots | None = None
        self.cluster_addr: Address | None = None
        self.since = db.utcnow()
        self.observer = Observer("workspace")
        self.exiting = False
        self.describing: dict[str, Describing] = {}  # by request id: Describe fan-ins in progress
        self.start: StartWorkspace | None = None  # what makes it again after it slept
        self.idle = IdleClock()  # touched by every message but its timer's and a scrape's
        self.log: Any = logs.get()

    def receiveMessage(self, msg: Any, sender: Address) -> None:
        self.observer.handling(msg)
        if not isinstance(msg, WakeupMessage | Describe):  # a scrape's ask is not use
            self.idle.touch()
        super().receiveMessage(msg, sender)
        if self._idle() and self.settings:
            delay = self.idle.due(self.settings.idle_timeout_s)
            if delay is not None:  # (one already pending otherwise)
                self.wakeupAfter(delay, payload=Sleepy())

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Address) -> None:
        """Idle for the idle timeout: out of memory until the next message (receiveMessage looks again
        if it is idle but not for long enough yet)."""
        assert self.settings
        self.idle.woke()
        if self._idle() and self.idle.quiet(self.settings.idle_timeout_s):
            self.log.info("workspace.sleeps")
            self._myRef.sleep(self.start)
            self.idle.watched = True  # no timer left behind: it would make it again at once

    def _idle(self) -> bool:
        """No project actor live, nothing held or asked of them, no drain: nothing in memory that is
        not on disk."""
        busy = self.project_addrs or self.held or self.describing or self.drain is not None
        return self.start is not None and not busy and not self.exiting

    def receiveMsg_StartWorkspace(self, msg: StartWorkspace, sender: Address) -> None:
        if self.conn is None:
            self.start = msg
            self.name, self.settings = msg.name, msg.settings
            self.pusher = Pusher.shared(msg.settings.hub_socket)
            logs.configure_actor(msg.settings)
            self.log = logs.get(actor="workspace", workspace=msg.name, pid=os.getpid())
            path = msg.settings.data_dir / "workspaces" / msg.name / "workspace.sqlite"
            self.conn = projection.connect(path, msg.settings.sqlite_synchronous)
            self.agents = AgentSlots(self.conn, msg.settings.max_live_agents)
            self.cluster_addr = msg.cluster_addr
            self._forget_deleted(msg.settings)
            for row in self.conn.execute("SELECT * FROM projects"):
                self.projects[row["name"]] = Project(workspace=self.name, **dict(row))
            # A project with tasks on workers starts now: it resumes them when their worker joins.
            for (name,) in self.conn.execute(
                "SELECT DISTINCT project FROM tasks WHERE host != ?", (hosts.LEADER,)
            ):
                self._start_project(self.projects[name])
        created = (
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (db.utcnow(),)).rowcount
            == 1
        )
        created_at = self.conn.execute("SELECT value FROM meta WHERE key='created_at'").fetchone()[0]
        self.log.info("workspace.started", created=created, projects=len(self.projects))
        identity = {"pid": os.getpid(), "sid": os.getsid(0)}
        workspace = Workspace(name=self.name, created_at=created_at)
        self.send(
            sender,
            WorkspaceStarted(
                request_id=msg.request_id, created=created, workspace=workspace, identity=identity
            ),
        )

    def receiveMsg_RegisterProject(self, msg: RegisterProject, sender: Address) -> None:
        assert self.conn
        existing = self.projects.get(msg.name)
        if existing is None:
            existing = Project(workspace=self.name, name=msg.name, repo=msg.repo, created_at=db.utcnow())
            self.conn.execute(
                "INSERT INTO projects VALUES (?, ?, ?)", (msg.name, msg.repo, existing.created_at)
            )
            self.projects[msg.name] = existing
            self.log.info("project.registered", project=msg.name)
            self.send(sender, ProjectRegistered(request_id=msg.request_id, created=True, project=existing))
        else:
            self.send(sender, ProjectRegistered(request_id=msg.request_id, created=False, project=existing))

    def receiveMsg_CreateTask(self, msg: CreateTask, sender: Address) -> None:
        if msg.project not in self.projects:
            self.send(
                sender,
                Failure(
                    request_id=msg.request_id,
                    status=404,
                    code="project_not_found",
                    message=f"no project {msg.project!r} in workspace {self.name!r}",
                ),
            )
            return
        self._to_project(msg.project, msg.model_copy(update={"reply_to": msg.reply_to or sender}))

    def receiveMsg_ProjectIdle(self, msg: ProjectIdle, sender: Address) -> None:
        """What was routed to the project before this answer reaches it first (one pair keeps its order)
        and would make it busy; what comes after is held."""
        if self.project_addrs.get(msg.project) == sender and msg.project not in self.held:
            self.held[msg.project] = []
            self.send(sender, ProjectIdleOk())

    def receiveMsg_ProjectBusy(self, msg: ProjectBusy, sender: Address) -> None:
        for held in self.held.pop(msg.project, []):
            self.send(sender, held)

    def receiveMsg_TaskInitialized(self, msg: TaskInitialized, sender: Address) -> None:
        self._project(msg.summary)
        self.send(
            msg.reply_to, TaskCreated(request_id=msg.request_id, created=msg.created, record=msg.record)
        )

    def receiveMsg_TaskChanged(self, msg: TaskChanged, sender: Address) -> None:
        self._project(msg.summary)

    def receiveMsg_TaskDeleted(self, msg: TaskDeleted, sender: Address) -> None:
        assert self.conn
        for cursor, frame in projection.delete(self.conn, [msg.task_id]):
            self._push_feed(cursor, frame)
        done = CommandDone(request_id=msg.request_id, task_id=msg.task_id, status="deleted", changed=True)
        self.send(msg.reply_to, done)

    def receiveMsg_HostState(self, msg: HostState, sender: Address) -> None:
        """Each of the worker's tasks takes the next cursor, so feeds show the change (and its undoing)."""
        assert self.conn
        for cursor, frame in projection.mark_host(self.conn, msg.task_ids, msg.down_since):
            self._push_feed(cursor, frame)
        if msg.down_since and self.agents:
            self.agents.forget(msg.task_ids)  # cut off: they ask again when they resume
        self.log.info("workspace.host", host=msg.host, down_since=msg.down_since, tasks=len(msg.task_ids))

    def receiveMsg_AgentSlot(self, msg: AgentSlot, sender: Address) -> None:
        assert self.agents
        self.send(*self.agents.ask(msg, sender))

    def receiveMsg_AgentFreed(self, msg: AgentFreed, sender: Address) -> None:
        assert self.agents
        for addr, granted in self.agents.free(msg.task_id):
            self.send(addr, granted)

    def receiveMsg_ReadTask(self, msg: ReadTask, sender: Address) -> None:
        self.receiveMsg_TaskCommand(msg, sender)

    def receiveMsg_TaskCommand(self, msg: TaskCommand | ReadTask, sender: Address) -> None:
        assert self.conn
        row = self.conn.execute("SELECT project FROM tasks WHERE id = ?", (msg.task_id,)).fetchone()
        if row is None or row[0] not in self.projects:
            self.send(msg.reply_to or sender, Failure.task_not_found(msg.request_id, msg.task_id))
            return
        self._to_project(row[0], msg.model_copy(update={"reply_to": msg.reply_to or sender}))

    def drain_children(self) -> list[Address]:
        return list(self.project_addrs.values())

    def receiveMsg_Describe(self, msg: Describe, sender: Address) -> None:
        """A project is asked after its StartProject (one sender→receiver pair keeps its order), so no
        project is ever asked before it has started."""
        me = described("workspace", self.name, self.myAddress, self.since)
        asking = Describing(msg.reply_to or sender, msg.request_id, list(self.project_addrs.values()), [me])
        self.describing[msg.request_id] = asking
        for addr in asking.waiting:
            self.send(addr, Describe(request_id=msg.request_id))
        self._described(msg.request_id, None, [])

    def receiveMsg_Described(self, msg: Described, sender: Address) -> None:
        self._described(msg.request_id, sender, msg.actors)

    def _described(self, request_id: str, project: Address | None, actors: list[ActorInfo]) -> None:
        """A project answered (or exited: no actors); with none left, answer the asker."""
        asking = self.describing.get(request_id)
        if asking is None:
            return
        asking.actors += actors
        if asking.answered(project):
            del self.describing[request_id]
            self.send(asking.reply_to, Described(request_id=request_id, actors=asking.actors))

    def receiveMsg_ResumeTasks(self, msg: ResumeTasks, sender: Address) -> None:
        by_project: dict[str, list[str]] = {}
        for task_id, project in msg.tasks.items():
            by_project.setdefault(project, []).append(task_id)
        for project in set(by_project) - set(self.projects):
            self.log.warning("resume.unknown_project", project=project, tasks=len(by_project.pop(project)))
        count = 0
        for project, task_ids in by_project.items():
            self._to_project(project, ActivateTasks(task_ids=sorted(task_ids)))
            count += len(task_ids)
        self.log.info("resume.dispatched", tasks=count)
        self.send(sender, ResumeDispatched(request_id=msg.request_id, count=count))

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Address) -> None:
        self.exiting = True  # children exiting now are shutting down, not crashing
        if self.conn is not None:
            self.conn.close()

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Address) -> None:
        self.drain_answered(msg.childAddress)
        for request_id in list(self.describing):
            self._described(request_id, msg.childAddress, [])
        # A project actor that offered to go has gone: what was held for it starts a fresh one. One that
        # died (a crash, not a shutdown): a fresh one at once. Either way its state is on disk.
        if self.exiting:
            return
        for name, addr in list(self.project_addrs.items()):
            if addr != msg.childAddress:
                continue
            del self.project_addrs[name]
            if name in self.held:
                for held in self.held.pop(name):
                    self._to_project(name, held)
            else:
                self.log.warning("project.exited", project=name)
                self._start_project(self.projects[name])

    def _to_project(self, name: str, msg: Any) -> None:
        """To the project's actor, started if it has none; held while it may be exiting."""
        if name in self.held:
            self.held[name].append(msg)
        else:
            self.send(self._actor_of(name), msg)

    def _actor_of(self, name: str) -> Any:
        """The project's actor, started if it has none."""
        addr = self.project_addrs.get(name)
        if addr is None:
            addr = self._start_project(self.projects[name])
        return addr

    def _start_project(self, project: Project) -> Any:
        assert self.settings
        addr = self.createActor(ProjectActor)
        self.project_addrs[project.name] = addr
        start = StartProject(
            project=project,
            settings=self.settings,
            workspace_addr=self.myAddress,
            cluster_addr=self.cluster_addr,
        )
        self.send(addr, start)
        return addr

    def _forget_deleted(self, settings: Settings) -> None:
        """A delete removes the task's files, then its row here: a crash in between left a row whose
        database is gone (the task database is the truth). A worker's tasks are its own to check."""
        assert self.conn
        rows = self.conn.execute("SELECT id FROM tasks WHERE host = ?", (hosts.LEADER,)).fetchall()
        projection.delete(
            self.conn, [r[0] for r in rows if not task_db_path(settings.data_dir, r[0]).exists()]
        )

    def _project(self, summary: TaskSummary) -> None:
        """Into the projection, and to the hub's workspace feed if it changed anything."""
        assert self.conn
        changed = projection.upsert(self.conn, summary)
        if changed:
            self._push_feed(*changed)

    def _push_feed(self, cursor: int, frame: dict[str, Any]) -> None:
        if self.pusher is not None:
            observed = self.observer.take()
            self.pusher.push(FeedChanged(workspace=self.name, cursor=cursor, frame=frame, observed=observed))


@dataclass(frozen=True)
class Sleepy:
    """Wakeup payload: the workspace may have been idle for its idle timeout."""


@dataclass
class Describing(FanIn):
    actors: list[ActorInfo]  # gathered so far: the workspace's own, then each project's
