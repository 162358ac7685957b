"""The plumbing under ProjectActor: its state, and handing tasks to task actors on their hosts (ready
actors, the cap of live ones, passivation back into the pool, hosts going down). The messages themselves
(actors/project/actor.py) read top to bottom without it.
"""

import bisect
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from thespian.actors import ActorExitRequest

from actors import db, hosts, logs
from actors.drain import DrainingParent
from actors.project.kits import Kit
from actors.project.registry import Reserved, TaskRegistry
from actors.push import Pusher
from schemas.api import Project
from schemas.cluster_messages import Place, Unplace
from schemas.messages import Failure
from schemas.project_messages import AgentFreed, PassivateOk, ProjectIdle, ProjectInUse, Taken
from schemas.settings import Settings
from schemas.task_messages import Activate, Initialize, TaskCommand
from schemas.workspace_messages import CreateTask, HostState

RETIRE_AFTER = timedelta(seconds=2)  # a surplus ready actor's idle time before it exits


@dataclass(frozen=True)
class Retire:
    """Wakeup payload: time to retire the host's surplus ready actors."""

    host: str


@dataclass(frozen=True)
class Quiet:
    """Wakeup payload: the host's kit may have gone quiet; if so, its pool shrinks to one, and a project
    with nothing live offers to go."""

    host: str


@dataclass(frozen=True)
class KitActorEnded:
    """Wakeup payload: the host's mirror or pool actor (`address`) ended; a fresh one starts."""

    host: str
    address: Any


class ProjectActorBase(DrainingParent):
    def __init__(self) -> None:
        super().__init__()
        self.project: Project | None = None
        self.settings: Settings | None = None
        self.workspace_addr: Any = None
        self.cluster_addr: Any = None
        self.registry: TaskRegistry | None = None
        self.pusher: Pusher | None = None  # relays the events of task actors on workers to the hub
        self.kits: dict[str, Kit] = {}  # host → this project's mirror and pool there
        self.placing: dict[str, Any] = {}  # task id → its create, while the cluster picks its host
        self.early: list[Any] | None = []  # creates that came before the cluster's first Hosts
        self.waiting: list[tuple[str, str, Any]] = []  # (task id, host, message) for want of a ready actor
        self.tasks: dict[str, Any] = {}  # task id → its live actor
        self.resting: dict[str, str] = {}  # task id → host: at rest, its actor kept; reclaimed before a fork
        self.queued: list[str] = []  # task ids waiting for a slot under the cap, oldest first
        self.share = 0  # live task actors this project may have: its share of the workspace's cap
        self.in_use = False  # as the workspace last heard (ProjectInUse): it starts a project not in use
        self.since: dict[str, str] = {}  # actor address → when it took its current role
        self.retired: list[Any] = []  # surplus ready actors told to exit, until their exit is reported
        self.offered = False  # ProjectIdle sent, not yet answered
        self.exiting = False
        self.log: Any = logs.get()

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        """Once a message is handled: the workspace hears when this project starts or stops using task
        actors, so that only projects in use share its cap. A task at rest keeps its actor (and the project
        in use) until its idle timeout, so a project is not in and out of use with each task."""
        super().receiveMessage(msg, sender)
        in_use = bool(self.tasks or self.waiting or self.queued or self.placing or self.early)
        if in_use != self.in_use and self.project is not None and not self.exiting:
            self.in_use = in_use
            self.send(self.workspace_addr, ProjectInUse(project=self.project.name, in_use=in_use))

    def drain_children(self) -> list[Any]:
        return list(self.tasks.values())

    def drain_settled(self) -> bool:
        """No fork in flight on any host: the stop that follows a drain shuts thespian down, and an actor
        forked meanwhile keeps it from confirming (kquick#27: a stop right after start-up, while the
        pools were still forking, waited 2 s and killed the new actors)."""
        return not any(kit.forking for kit in self.kits.values())

    def _free_agent(self, task_id: str) -> None:
        self.send(self.workspace_addr, AgentFreed(task_id=task_id))

    def _initialize(self, msg: CreateTask, reserved: Reserved) -> None:
        assert self.settings
        body = msg.body
        task_id = reserved.task_id
        init = Initialize(
            request_id=msg.request_id,
            reply_to=msg.reply_to,
            task_id=task_id,
            title=reserved.title,
            branch=reserved.branch,
            branch_given=reserved.branch_given,
            prompt=body.prompt,
            agent=body.agent,
            provider=body.provider or self.settings.provider,
        )
        if self._host_of(task_id) == "":
            self.placing[task_id] = init
            self.send(self.cluster_addr, Place(task_id=task_id))
        else:
            self._dispatch(task_id, init)

    def _dispatch(self, task_id: str, msg: Any) -> None:
        """To the task's live actor; else to a ready one on its host; else wait for that host's pool's
        next (an actor put to work has been replaced by a fork in flight; one lent for a create at the cap
        comes back within milliseconds; with none on its way, the kit's whole pool is forked). At the cap
        of live task actors a resume waits for a slot, in creation order; a create still initializes at once
        (and then waits for its slot without an actor); a command is never kept waiting. A task on a
        worker that is gone is refused (a command) or left to resume when the worker returns."""
        if task_id in self.tasks:
            self.resting.pop(task_id, None)  # busy again: it says when it is back at rest
            self.send(self.tasks[task_id], msg)
            return
        host = self._host_of(task_id)
        kit = self._kit(host)
        if kit is None:
            if isinstance(msg, TaskCommand):
                self.send(msg.reply_to, unreachable(msg.request_id, host))
            return
        if self._full() and isinstance(msg, Activate):
            if task_id not in self.queued:
                bisect.insort(self.queued, task_id)  # ids sort by creation time
            return
        if isinstance(msg, Initialize):
            msg = msg.model_copy(update={"provision": not self._full()})
        self.waiting.append((task_id, host, msg))
        self._use(kit)
        if kit.ready:
            self._assign(task_id, kit.ready.pop(0), kit)
        elif not lent(msg):
            while kit.short:  # a task waits: the whole pool on its way (a quiet kit's is one)
                self._top_up(kit)

    def _use(self, kit: Kit) -> None:
        """The kit is busy: its whole pool is kept ready until it has been quiet for `pool_idle_s`."""
        assert self.settings
        kit.use()
        if not kit.watched:
            kit.watched = True
            self.wakeupAfter(timedelta(seconds=self.settings.pool_idle_s), payload=Quiet(kit.host.name))

    def _full(self) -> bool:
        return len(self.tasks) + len({t for t, _, _ in self.waiting}) >= self.share

    def _fill(self) -> None:
        """A slot freed: the oldest task waiting for one is activated (it resumes where it stopped)."""
        while self.queued and not self._full():
            task_id = self.queued.pop(0)
            self._dispatch(task_id, Activate(task_id=task_id))

    def _assign(self, task_id: str, addr: Any, kit: Kit) -> None:
        """Give a ready actor its task, with every message waiting for that task, in order; and fork its
        replacement, unless it is only lent."""
        self.tasks[task_id] = addr
        self.since[str(addr)] = db.utcnow()
        if task_id in self.queued:  # activated by a command before its turn came
            self.queued.remove(task_id)
        messages = [m for t, _, m in self.waiting if t == task_id]
        for msg in messages:
            self.send(addr, msg)
        self.waiting = [w for w in self.waiting if w[0] != task_id]
        if not any(lent(m) for m in messages):
            self._top_up(kit)

    def _top_up(self, kit: Kit) -> None:
        """One more actor ready or on its way, if the kit is short of its size. The actor of a task at
        rest on that host comes back first (recycled: its task lives on in its database); a fork only
        when there is none."""
        if not kit.short:
            return
        spare = next((t for t, host in self.resting.items() if host == kit.host.name), None)
        if spare is None:
            kit.forking += 1
            self.send(kit.pool, Taken())
        else:
            self._passivate(spare, queued=False)

    def _passivate(self, task_id: str, queued: bool) -> None:
        """Nothing more is routed to the task's actor: it lets go of the task and is at once back in its
        pool (whatever is sent to it now arrives after the PassivateOk); the task's slot frees."""
        addr = self.tasks.pop(task_id)
        host = self.resting.pop(task_id, None) or self._host_of(task_id)
        self.send(addr, PassivateOk())
        self.drain_answered(addr)
        if queued:
            bisect.insort(self.queued, task_id)
        kit = self._kit(host)
        if kit is not None:
            self._ready(addr, kit)
        self._fill()
        self._offer()  # the last task of a quiet project

    def _ready(self, addr: Any, kit: Kit) -> None:
        """An actor with no task: the oldest task waiting on its host takes it; else it waits in the pool.
        Beyond the kit's size it is retired, but only once idle for RETIRE_AFTER (see _retire)."""
        assert self.settings
        waiting = [t for t, host, _ in self.waiting if host == kit.host.name]
        if waiting:
            self._assign(waiting[0], addr, kit)  # which dates its new role
            return
        self.since[str(addr)] = db.utcnow()
        kit.ready.append(addr)
        if len(kit.ready) == kit.size + 1:
            self.wakeupAfter(RETIRE_AFTER, payload=Retire(kit.host.name))

    def _quiet(self, host: str) -> None:
        """Look again when the kit may be quiet; once it is, its surplus ready actors retire, and the
        project offers to go if nothing is live."""
        kit = self._kit(host)
        if kit is None:
            return
        left = kit.quiet_in()
        kit.watched = left > 0  # (a kit made anew since keeps one wakeup, this one)
        if kit.watched:
            self.wakeupAfter(timedelta(seconds=left), payload=Quiet(host))
        else:
            self._retire(host)
            self._offer()

    def _idle(self) -> bool:
        """Nothing live here and every kit quiet: the project can go and be started again on demand (its
        state is on disk). Never with tasks on workers: it resumes them when their worker rejoins."""
        assert self.registry
        return (
            not (self.tasks or self.waiting or self.queued or self.placing or self.early)
            and self.drain is None
            and not self.exiting
            and all(not kit.quiet_in() and not kit.forking for kit in self.kits.values())
            and not self.registry.on_workers()
        )

    def _offer(self) -> None:
        """Offer to go (ProjectIdle), once until answered."""
        assert self.project
        if not self.offered and self._idle():
            self.offered = True
            self.send(self.workspace_addr, ProjectIdle(project=self.project.name))

    def _retire(self, host: str) -> None:
        """Ready actors beyond the kit's size exit, oldest first, once idle for RETIRE_AFTER. Not at once:
        thespian loses what an actor told to exit has not yet sent (a create's answer: 1 in ~200 creates
        made at the cap of live tasks, measured), while an idle actor's loop has long sent everything."""
        kit = self._kit(host)
        if kit is None:
            return
        idle_since = time.time() - RETIRE_AFTER.total_seconds()
        while len(kit.ready) > kit.size:
            if db.parse(self.since[str(kit.ready[0])]) > idle_since:
                self.wakeupAfter(RETIRE_AFTER, payload=Retire(host))  # the rest, later
                return
            retired = kit.ready.pop(0)
            self.since.pop(str(retired), None)
            self.retired.append(retired)
            self.send(retired, ActorExitRequest())

    def _known(self, addr: Any) -> bool:
        """An actor this project has had from a pool: working, ready, or retired (addresses compare with
        ==, they are not hashable)."""
        ready = [a for kit in self.kits.values() for a in kit.ready]
        return any(addr == a for a in [*self.tasks.values(), *self.retired, *ready])

    def _start_kit(self, kit: Kit, scan: list[str]) -> None:
        old = self.kits.get(kit.host.name)
        if old is not None and old.host.up:
            self._host_down(old, since="")  # restarted: whatever ran there before is gone
        self.kits[kit.host.name] = kit
        for role in ("mirror", "pool"):
            self.since[f"{role}@{kit.host.name}"] = db.utcnow()
        kit.start_pool(self, scan)  # first: a create on a project just started waits for its first fork
        kit.start_mirror(self)

    def _host_down(self, kit: Kit, since: str) -> None:
        """Its live task actors are gone or cut off: forget them (they resume when it rejoins)."""
        name = kit.host.name
        gone = [t for t in self.tasks if self._host_of(t) == name]
        for task_id in gone:
            self.resting.pop(task_id, None)
            self.drain_answered(self.tasks.pop(task_id))
        kit.down()
        if since:
            self._host_state(name, down_since=since)
        self._fill()

    def _host_state(self, host: str, down_since: str) -> None:
        self.send(
            self.workspace_addr, HostState(host=host, task_ids=self._tasks_on(host), down_since=down_since)
        )

    def _workers(self) -> bool:
        return any(k.up for name, k in self.kits.items() if name != hosts.LEADER)

    def _host_of(self, task_id: str) -> str:
        assert self.registry
        host = self.registry.host_of(task_id)
        return hosts.LEADER if host is None else host

    def _tasks_on(self, host: str) -> list[str]:
        assert self.registry
        return self.registry.tasks_on(host)

    def _kit(self, host: str) -> Kit | None:
        """This project's kit on that host, while the host is up: nothing is routed to one that is not."""
        kit = self.kits.get(host)
        return kit if kit is not None and kit.up else None

    def _to_mirror(self, task_id: str, msg: Any) -> None:
        kit = self._kit(self._host_of(task_id))
        if kit is not None:
            self.send(kit.mirror, msg)

    def _unplace(self, task_id: str) -> None:
        if self.cluster_addr is not None and self._host_of(task_id) != hosts.LEADER:
            self.send(self.cluster_addr, Unplace(task_id=task_id))


def lent(msg: Any) -> bool:
    """A create at the cap borrows an actor only to initialize: it is back within milliseconds, so
    nothing is forked for it."""
    return isinstance(msg, Initialize) and not msg.provision


def unreachable(request_id: str, host: str) -> Failure:
    message = f"the task's host {host!r} is unreachable; it resumes when that worker rejoins"
    return Failure(request_id=request_id, status=503, code="host_unreachable", message=message)
