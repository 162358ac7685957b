"""ProjectActor: owns a project's registry (registry.py, beside it), and gives each task that needs one a
task actor on its host (kits.py: the leader's, and one per worker of the convention). How a task gets
an actor, and lets it go, is in base.py.

  StartProject   → open the registry, start the leader's kit (its mirror), watch the cluster.
  CreateTask     → reserve id and branch (durable, idempotent by key); Initialize on the task's host.
  Placed         → (with workers) the cluster chose the new task's host: recorded for good, then Initialize.
  Hosts          → a worker (re)joined: a kit there, its unfinished tasks resume and its running tasks
                   whose agent died are revived (HostScanned); or it left.
  ActivateTasks  → start-up: give each task an actor, which resumes it.
  Passivate      → a task actor at rest past its idle timeout (or made at the cap) may go, if nothing was
                   routed to it since; it exits and its slot frees (SlotFree to a project waiting for one).
  EnsureMirror   → passed to the task's host's MirrorActor, which answers the task.
  TaskCommand    → to the task's actor, made if the task is passive.
  ReadTask       → to the mirror actor on the task's host, which reads its database: a read activates nothing.
  TaskEvents     → from task actors on workers: pushed on to the hub (its socket is on this host).
  KeepBranch, ReleaseBranch, TaskRemoved → archive, kill, delete: the mirror and the reservations; the
                   task's agent slot frees at the workspace (AgentFreed).
  Describe       → (from the workspace) this project's actors; Drain → passed to live task actors,
                   answered when they have.
  ProjectIdleOk  → the workspace holds this project's messages: it exits if still idle (quiet, nothing
                   live: it offered with ProjectIdle), and is started again on demand; else ProjectBusy.
Nothing here blocks: it shares its runner with every actor there, so git runs in the mirror actors'
work, off the mailbox.
"""

import os
from datetime import timedelta
from typing import Any

from thespian.actors import ActorExitRequest, ChildActorExited, WakeupMessage

from actors import db, logs
from actors.project.base import MirrorEnded, ProjectActorBase, Quiet, unreachable
from actors.project.gate import LiveGate
from actors.project.kits import Kit
from actors.project.registry import Refusal, TaskRegistry
from actors.push import Pusher
from actors.runtime import hosts
from actors.runtime.refs import described
from schemas.cluster_messages import Host, Hosts, Placed, WatchHosts
from schemas.messages import Address, Describe, Described, Failure, Reply
from schemas.project_messages import (
    ActivateTasks,
    BranchDone,
    EnsureMirror,
    Evict,
    HostScanned,
    KeepBranch,
    Passivate,
    ProjectBusy,
    ProjectIdleOk,
    ReleaseBranch,
    SlotFree,
    StartProject,
    Stay,
    TaskRemoved,
)
from schemas.task_messages import Activate, ReadTask, TaskAction, TaskCommand, TaskEvents
from schemas.workspace_messages import CreateTask

WORKER_RESTART_DELAY = timedelta(seconds=5)  # longer than the convention takes to notice a lost worker


class ProjectActor(ProjectActorBase):
    def receiveMsg_StartProject(self, msg: StartProject, sender: Address) -> None:
        p, s = msg.project, msg.settings
        self.project, self.settings, self.workspace_addr = p, s, msg.workspace_addr
        self.gate = LiveGate.shared(s.data_dir, s.max_live_tasks)
        self.since[str(self.myAddress)] = db.utcnow()
        logs.configure_actor(s)
        self.log = logs.get(actor="project", workspace=p.workspace, project=p.name, pid=os.getpid())
        path = s.data_dir / "workspaces" / p.workspace / "projects" / f"{p.name}.sqlite"
        self.registry = TaskRegistry(path, s.sqlite_synchronous)
        self.pusher = Pusher.shared(s.hub_socket)
        leader = Host(name=hosts.LEADER, data=s.data_dir, capacity=0)
        self._start_kit(Kit.on(leader, p, s, self.workspace_addr, self.myAddress), scan=[])
        self.cluster_addr = msg.cluster_addr
        if self.cluster_addr is not None:
            self.send(self.cluster_addr, WatchHosts(project=f"{p.workspace}/{p.name}"))
        self._watch_quiet()

    def receiveMsg_CreateTask(self, msg: CreateTask, sender: Address) -> None:
        """Reserve (durable, idempotent by key), then initialize on the task's host: the leader when
        alone, else where the cluster places it. Before the cluster's first Hosts, whether there are
        workers is not known yet: the create waits for it (a project is started on demand)."""
        assert self.registry
        if self.cluster_addr is not None and self.early is not None:
            self.early.append(msg)
            return
        reserved = self.registry.reserve(msg, placed="" if self._workers() else hosts.LEADER)
        if isinstance(reserved, Refusal):
            failure = Failure(request_id=msg.request_id, **reserved._asdict())
            self.send(msg.reply_to, failure)
        else:
            self._initialize(msg, reserved)

    def receiveMsg_Placed(self, msg: Placed, sender: Address) -> None:
        """The cluster chose the task's host: recorded here for good (sticky), then it initializes."""
        assert self.registry
        self.registry.place(msg.task_id, msg.host)
        create = self.placing.pop(msg.task_id, None)
        if create is not None:
            self._dispatch(msg.task_id, create)

    def receiveMsg_Hosts(self, msg: Hosts, sender: Address) -> None:
        """Workers joined or left. One that (re)joins gets a fresh kit, and its unfinished tasks resume
        (its mirror actor scans their databases there); one that left strands its tasks, visibly, until
        then."""
        assert self.project and self.settings
        early, self.early = self.early or [], None
        for name, host in msg.hosts.items():
            kit = self.kits.get(name)
            if name == hosts.LEADER or (kit is not None and kit.host == host):
                continue
            if host.up:
                kit = Kit.on(host, self.project, self.settings, self.workspace_addr, self.myAddress)
                self._start_kit(kit, scan=self._tasks_on(name))
                self._host_state(name, down_since="")
            elif kit is not None and kit.host.up:
                self._host_down(kit, since=host.since)
        for create in early:
            self.receiveMsg_CreateTask(create, sender)

    def receiveMsg_HostScanned(self, msg: HostScanned, sender: Address) -> None:
        for task_id in msg.task_ids:
            self._dispatch(task_id, Activate(task_id=task_id))
        for task_id in msg.revive:
            revive = TaskCommand(
                request_id=f"revive:{task_id}",
                task_id=task_id,
                action=TaskAction.revive,
                reply_to=self.myAddress,
            )
            self._dispatch(task_id, revive)
        self.log.info("host.resumed", host=msg.host, count=len(msg.task_ids), revive=len(msg.revive))

    def receiveMsg_Reply(self, msg: Reply, sender: Address) -> None:
        self.log.info("task.revive", request_id=msg.request_id, answer=type(msg).__name__)

    def receiveMsg_TaskEvents(self, msg: TaskEvents, sender: Address) -> None:
        if self.pusher is not None:
            self.pusher.push(msg)

    def receiveMsg_ReadTask(self, msg: ReadTask, sender: Address) -> None:
        host = self._host_of(msg.task_id)
        kit = self._kit(host)
        if kit is None:
            self.send(msg.reply_to or sender, unreachable(msg.request_id, host))
        else:
            self.send(kit.mirror, msg.model_copy(update={"reply_to": msg.reply_to or sender}))

    def receiveMsg_ActivateTasks(self, msg: ActivateTasks, sender: Address) -> None:
        for task_id in msg.task_ids:
            self._dispatch(task_id, Activate(task_id=task_id))
        self.log.info("tasks.activated", count=len(msg.task_ids))

    def receiveMsg_EnsureMirror(self, msg: EnsureMirror, sender: Address) -> None:
        self._to_mirror(msg.task_id, msg.model_copy(update={"reply_to": sender}))

    def receiveMsg_Passivate(self, msg: Passivate, sender: Address) -> None:
        """The actor goes only if it has handled everything routed to it; else it stays, and asks again
        once at rest (a command on its way may start a step). Just at rest, it goes at once if a task
        of this runner waits for a slot; else it may be evicted when one does."""
        assert self.gate
        if self.tasks.get(msg.task_id) != sender:
            return  # stale: the task has another actor now, or none
        if msg.routed != self.routed[msg.task_id]:
            if not msg.resting:
                self.send(sender, Stay())
            return
        if msg.resting and not self.gate.waiting:
            self._busy(msg.task_id)  # listed once
            self.resting[msg.task_id] = msg.routed
            self.gate.rest(self.myAddress, msg.task_id)
            return
        self._forget(msg.task_id, exit=True)
        if msg.queued:
            self._queue(msg.task_id)
            self._fill()

    def receiveMsg_SlotFree(self, msg: SlotFree, sender: Address) -> None:
        self._fill()

    def receiveMsg_Evict(self, msg: Evict, sender: Address) -> None:
        self._evict(msg.task_id)

    def receiveMsg_TaskCommand(self, msg: TaskCommand, sender: Address) -> None:
        self._dispatch(msg.task_id, msg)

    def receiveMsg_KeepBranch(self, msg: KeepBranch, sender: Address) -> None:
        self._free_agent(msg.task_id)  # archived: its agent is being stopped
        self._unplace(msg.task_id)
        self._to_mirror(msg.task_id, msg.model_copy(update={"reply_to": sender}))

    def receiveMsg_ReleaseBranch(self, msg: ReleaseBranch, sender: Address) -> None:
        """Killed: the reservation goes now; the branch leaves the mirror (by its only writer)."""
        assert self.registry
        self.registry.release_branch(msg.task_id, msg.branch)
        self._free_agent(msg.task_id)
        self._unplace(msg.task_id)
        if msg.drop:
            self._to_mirror(msg.task_id, msg.model_copy(update={"reply_to": sender}))
        else:
            self.send(sender, BranchDone(task_id=msg.task_id, attempt=msg.attempt))

    def receiveMsg_TaskRemoved(self, msg: TaskRemoved, sender: Address) -> None:
        assert self.registry
        if msg.task_id in self.tasks:  # its actor, task-less now, exits
            self._forget(msg.task_id, exit=True)  # (before the registry forgets that host)
        self._unplace(msg.task_id)
        self.registry.remove(msg.task_id)
        self._free_agent(msg.task_id)

    def receiveMsg_Describe(self, msg: Describe, sender: Address) -> None:
        assert self.project
        roles = [("project", self.project.name, self.myAddress, str(self.myAddress))]
        for name, kit in self.kits.items():
            roles.append(("mirror", name, kit.mirror, f"mirror@{name}"))
        roles += [("task", task_id, a, str(a)) for task_id, a in self.tasks.items()]
        actors = [described(kind, name, addr, self.since.get(key, "")) for kind, name, addr, key in roles]
        self.send(msg.reply_to or sender, Described(request_id=msg.request_id, actors=actors))

    def receiveMsg_ProjectIdleOk(self, msg: ProjectIdleOk, sender: Address) -> None:
        """Nothing more is routed here: go if still idle (what the workspace routed before its answer
        has arrived, and would have made this project busy)."""
        assert self.project
        self.offered = False
        if self._idle():
            self.log.info("project.passivated")
            self.send(self.myAddress, ActorExitRequest())  # its mirror actors go with it
        else:
            self.send(self.workspace_addr, ProjectBusy(project=self.project.name))

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Address) -> None:
        """Its task actors exit with it: their slots go back to the gate."""
        assert self.gate
        self.exiting = True  # children exiting now are shutting down, not crashing
        for task_id in list(self.tasks):
            self._forget(task_id, exit=False)
        self.gate.leave(self.myAddress)

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Address) -> None:
        """A task actor that ended without being asked (its worker went) frees its slot; a mirror actor
        that ended is started again."""
        if self.exiting:
            return
        ended = self.task_of.get(msg.childAddress)
        if ended is not None:
            self._forget(ended, exit=False)
        for kit in self.kits.values():
            if msg.childAddress == kit.mirror and kit.up:
                delay = timedelta(0) if kit.host.name == hosts.LEADER else WORKER_RESTART_DELAY
                self.wakeupAfter(delay, payload=MirrorEnded(kit.host.name, msg.childAddress))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Address) -> None:
        """The project may have gone quiet; or a mirror actor ended: a fresh one (the mirror is on disk),
        unless its host left meanwhile (on a worker, that is the likely cause: its leaving is noticed
        within seconds)."""
        match msg.payload:
            case Quiet():
                self._quiet()
            case MirrorEnded(host, dead):
                kit = self._kit(host)
                if kit is not None and dead == kit.mirror:
                    kit.start_mirror(self, scan=[])
