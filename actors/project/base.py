"""The plumbing under ProjectActor: its state, and giving tasks task actors on their hosts (made on
demand, within the runner's cap of live ones: gate.py), taking them back once idle, hosts going down.
The messages themselves (actors/project/actor.py) read top to bottom without it.
"""

import bisect
from dataclasses import dataclass
from typing import Any

from thespian.actors import ActorExitRequest

from actors import db, logs
from actors.drain import DrainingParent
from actors.idle import IdleClock
from actors.project.gate import LiveGate
from actors.project.kits import Kit
from actors.project.registry import Reserved, TaskRegistry
from actors.push import Pusher
from actors.runtime import hosts
from actors.task.actor import TaskActor
from schemas.api import Project
from schemas.cluster_messages import Place, Unplace
from schemas.messages import Address, Failure
from schemas.project_messages import AgentFreed, Evict, ProjectIdle, SlotFree
from schemas.settings import Settings
from schemas.task_messages import Activate, Initialize, TaskCommand
from schemas.workspace_messages import CreateTask, HostState


@dataclass(frozen=True)
class Quiet:
    """Wakeup payload: the project may have been quiet for its idle timeout; if so, it offers to go."""


@dataclass(frozen=True)
class MirrorEnded:
    """Wakeup payload: the host's mirror actor (`address`) ended; a fresh one starts."""

    host: str
    address: Address


class ProjectActorBase(DrainingParent):
    def __init__(self) -> None:
        super().__init__()
        self.project: Project | None = None
        self.settings: Settings | None = None
        self.workspace_addr: Address | None = None
        self.cluster_addr: Address | None = None
        self.registry: TaskRegistry | None = None
        self.pusher: Pusher | None = None  # relays the events of task actors on workers to the hub
        self.gate: LiveGate | None = None
        self.kits: dict[str, Kit] = {}  # host → this project's footing there
        self.placing: dict[str, Any] = {}  # task id → its create, while the cluster picks its host
        self.early: list[Any] | None = []  # creates that came before the cluster's first Hosts
        self.tasks: dict[str, Address] = {}  # task id → its live actor
        self.task_of: dict[Address, str] = {}  # live actor → its task id
        self.routed: dict[str, int] = {}  # task id → messages routed to its live actor (see Passivate)
        self.resting: dict[str, int] = {}  # task id → its routed count when its actor said it is at rest
        self.queued: list[str] = []  # task ids waiting for a slot under the cap, oldest first
        self.since: dict[str, str] = {}  # actor address → when it took its current role
        self.idle = IdleClock()  # touched when a task needs an actor here
        self.offered = False  # ProjectIdle sent, not yet answered
        self.exiting = False
        self.log: Any = logs.get()

    def drain_children(self) -> list[Address]:
        return list(self.tasks.values())

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
        """To the task's live actor, else to one made for it on its host. At the runner's cap of live
        task actors a resume waits for a slot, in creation order; a create still initializes at once
        (then waits for its slot without an actor); a command is never kept waiting. A task on a worker
        that is gone is refused (a command) or left to resume when the worker returns."""
        assert self.gate
        self.idle.touch()
        if task_id not in self.tasks:
            host = self._host_of(task_id)
            kit = self._kit(host)
            if kit is None:
                if isinstance(msg, TaskCommand):
                    self.send(msg.reply_to, unreachable(msg.request_id, host))
                return
            if isinstance(msg, Activate | Initialize):
                self._make_room()
            if isinstance(msg, Activate) and self.gate.full():
                self._queue(task_id)
                return
            if isinstance(msg, Initialize):
                msg = msg.model_copy(update={"provision": not self.gate.full()})
            self._make(task_id, kit)
        self._busy(task_id)
        self.routed[task_id] += 1
        self.send(self.tasks[task_id], msg)

    def _make(self, task_id: str, kit: Kit) -> None:
        """A task actor for the task, on its host: an object in a runner, so made per activation."""
        assert self.gate
        addr = self.createActor(TaskActor, targetActorRequirements=kit.where())
        self.send(addr, kit.bind)
        self.tasks[task_id], self.routed[task_id], self.task_of[addr] = addr, 0, task_id
        self.since[str(addr)] = db.utcnow()
        self.gate.take()
        if task_id in self.queued:  # activated by a command before its turn came
            self.queued.remove(task_id)

    def _busy(self, task_id: str) -> None:
        """Its actor is no longer at rest, or no longer there: not to be evicted."""
        assert self.gate
        if self.resting.pop(task_id, None) is not None:
            self.gate.unrest(self.myAddress, task_id)

    def _make_room(self) -> None:
        """At the cap: the actor longest at rest on this runner goes, at once if it is this project's
        (else its project is asked, and the slot comes as SlotFree)."""
        assert self.gate
        victim = self.gate.evictable() if self.gate.full() else None
        if victim is not None and victim[0] == self.myAddress:
            self._evict(victim[1])
        elif victim is not None:
            self.send(victim[0], Evict(task_id=victim[1]))

    def _queue(self, task_id: str) -> None:
        assert self.gate
        if task_id not in self.queued:
            bisect.insort(self.queued, task_id)  # ids sort by creation time
        self.gate.wait(self.myAddress)

    def _evict(self, task_id: str) -> None:
        """Let the task's actor go if it is still at rest, nothing routed to it since."""
        if task_id in self.tasks and self.resting.get(task_id) == self.routed[task_id]:
            self._forget(task_id, exit=True)

    def _fill(self) -> None:
        """A slot freed: the oldest tasks waiting for one are activated (each resumes where it stopped).
        Not by a project on its way out: they would be made only to be ended with it."""
        assert self.gate
        if self.exiting:
            return
        while self.queued and not self.gate.full():
            task_id = self.queued.pop(0)
            self._dispatch(task_id, Activate(task_id=task_id))
        if self.queued:
            self.gate.wait(self.myAddress)

    def _forget(self, task_id: str, exit: bool) -> None:
        """Nothing more is routed to the task's actor (it exits if `exit`: whatever was sent to it
        before arrives first); its slot goes to whichever project has waited longest for one."""
        assert self.gate
        self._busy(task_id)
        addr = self.tasks.pop(task_id)
        del self.task_of[addr]
        self.routed.pop(task_id, None)
        self.since.pop(str(addr), None)
        if exit:
            self.send(addr, ActorExitRequest())
        self.drain_answered(addr)
        woken = self.gate.give()
        if woken is not None and woken != self.myAddress:
            self.send(woken, SlotFree())
        self._fill()
        if not self.tasks:
            self._watch_quiet()

    def _watch_quiet(self) -> None:
        """Look again once the idle timeout may have passed since a task last needed an actor."""
        assert self.settings
        if not self.exiting and (delay := self.idle.due(self.settings.idle_timeout_s)) is not None:
            self.wakeupAfter(delay, payload=Quiet())

    def _quiet(self) -> None:
        self.idle.woke()
        if not self.tasks:
            self._offer()

    def _idle(self) -> bool:
        """Nothing live or waiting here, and quiet for the idle timeout: the project can go and be started
        again on demand (its state is on disk). Never with tasks on workers: it resumes them when their
        worker rejoins."""
        assert self.registry and self.settings
        return (
            not (self.tasks or self.queued or self.placing or self.early)
            and self.idle.quiet(self.settings.idle_timeout_s)
            and self.drain is None
            and not self.exiting
            and not self.registry.on_workers()
        )

    def _offer(self) -> None:
        """Offer to go (ProjectIdle), once until answered; look again later if not quiet long enough."""
        assert self.project
        if not self.offered and self._idle():
            self.offered = True
            self.send(self.workspace_addr, ProjectIdle(project=self.project.name))
        elif not self.tasks:
            self._watch_quiet()

    def _start_kit(self, kit: Kit, scan: list[str]) -> None:
        old = self.kits.get(kit.host.name)
        if old is not None and old.host.up:
            self._host_down(old, since="")  # restarted: whatever ran there before is gone
        self.kits[kit.host.name] = kit
        self.since[f"mirror@{kit.host.name}"] = db.utcnow()
        kit.start_mirror(self, scan)

    def _host_down(self, kit: Kit, since: str) -> None:
        """Its live task actors are gone or cut off: forget them (they resume when it rejoins)."""
        name = kit.host.name
        for task_id in [t for t in self.tasks if self._host_of(t) == name]:
            self._forget(task_id, exit=False)
        kit.down()
        if since:
            self._host_state(name, down_since=since)

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


def unreachable(request_id: str, host: str) -> Failure:
    message = f"the task's host {host!r} is unreachable; it resumes when that worker rejoins"
    return Failure(request_id=request_id, status=503, code="host_unreachable", message=message)
