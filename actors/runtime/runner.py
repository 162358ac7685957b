"""Runner: one thespian actor process hosting many lightweight actors (docs/design.md, "Runners").

A hosted actor is an instance of an ordinary actor class (workspace, project, task, …) whose thespian
API — send, createActor, wakeupAfter — runs on its runner instead of on a process of its own (Cell).
The runner keeps one mailbox for all of them (mailbox.py): messages are handled one at a time, each
actor's in the order they were sent, never two at once; the web's asks go first. A message between two
actors of one runner is an in-process append to that mailbox; to another runner, an Envelope over
thespian.

What a process per actor gave for free, the runner does for its actors:
- an actor that handles ActorExitRequest ends: its children are told to exit, its parent hears
  ChildActorExited; a runner on another host that ends (its worker died) ends the children it hosted;
- a top-level actor with no child may go to sleep (Cell.sleep): it leaves memory, and the next message
  for its key makes it again, handed the start message it left first;
- wakeups are kept in one heap, with one thespian wakeup armed for the earliest;
- slow work runs on one bounded pool of threads (actors/runtime/work.py).
"""

import itertools
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from thespian.actors import (
    Actor,
    ActorExitRequest,
    ActorSystemConventionUpdate,
    ChildActorExited,
    WakeupMessage,
    WatchMessage,
)

from actors import logs
from actors.push import Pusher
from actors.runtime import memory
from actors.runtime.door import Answer, Arrival, Door, DoorAddress
from actors.runtime.hosts import HOST, JOINED, HostBound, on_host
from actors.runtime.mailbox import Mailbox
from actors.runtime.peers import Peers
from actors.runtime.refs import Batch, Envelope, Ref
from actors.runtime.timers import Timers
from actors.runtime.work import Offload, WorkPool
from schemas.messages import Address
from schemas.runner_messages import RunnerLoad, RunnerLoaded, RunnerStart, RunnerStarted, Spawn, Spawned
from schemas.settings import Settings

TURN = 500  # messages handled before the runner lets thespian's own traffic in
THREADS = 32  # the work pool's size: blocking provider calls (git, agent start) in flight per runner
UNBORN_S = 10.0  # how long a message waits for an actor whose Spawn has not arrived yet
ENDED_KEPT = 10_000  # keys of ended actors remembered (messages to them are dropped, not kept waiting)
WAIT_SAMPLE = 1000  # mailbox waits kept between two RunnerLoad asks


@dataclass(frozen=True)
class Tick:
    """The runner's own wakeup: hosted timers may be due."""


@dataclass(frozen=True)
class Turn:
    """The runner's message to itself: its mailbox is not empty yet."""


class Cell:
    """What a hosted actor's thespian API runs on (thespian calls it the actor's `_myRef`)."""

    def __init__(self, runner: "Runner", ref: Ref) -> None:
        self.runner, self.address = runner, ref
        self.globalName = None

    def createActor(
        self, cls: type, requirements: Any = None, globalName: Any = None, sourceHash: Any = None
    ) -> Ref:
        return self.runner.spawn(cls, requirements, parent=self.address)

    def actor_send(self, target: Address, msg: Any) -> None:
        self.runner.route(target, msg, self.address)

    def wakeupAfter(self, period: timedelta, payload: Any = None) -> None:
        self.runner.timers.add(self.address.key, period.total_seconds(), payload)

    def notifyOnSystemRegistrationChanges(self, address: Address, start: bool) -> None:
        self.runner.watch_convention(self.address.key, start)

    def offloader(self) -> Offload:
        return self.runner.offload_for(self.address.key)

    def sleep(self, start: Any) -> None:
        """Leave memory once this message is handled; the next message for this actor makes it again,
        and `start` is the first message it is handed then."""
        self.runner.sleepy[self.address.key] = start


class Hosted:
    __slots__ = ("actor", "children", "parent")

    def __init__(self, actor: Actor, parent: Ref | None) -> None:
        self.actor, self.parent = actor, parent
        self.children: dict[Ref, None] = {}  # in the order made


def kind_of(cls: type) -> str:
    return cls.__name__.removesuffix("Actor").lower()


class Runner(HostBound, Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.name, self.host = "", ""
        self.settings: Settings | None = None
        self.hosted: dict[str, Hosted] = {}
        self.mailbox = Mailbox()
        self.unborn: dict[str, list[tuple[Any, Address, float]]] = {}
        self.ended: dict[str, None] = {}  # the latest ENDED_KEPT, oldest first
        self.sleepy: dict[str, Any] = {}  # key → start message: asked to sleep by the message in hand
        self.sleeping: dict[str, tuple[type, Any]] = {}  # key → (class, start message)
        self.timers = Timers()
        self.armed: list[float] = []  # due times of the thespian wakeups on their way
        self.work: WorkPool | None = None
        self.door: Door | None = None  # the web process's way in, on the leader's runners
        self.remote: dict[tuple[str, str], tuple[str, Address]] = {}  # (host, joined) → the runner made there
        self.peers = Peers()  # this machine's other runners, through their doors
        self.convention: list[str] = []  # keys of the actors that follow the convention's members
        self.turn_asked = False
        self.counter = itertools.count()
        self.waits: list[float] = []
        self.outbox: dict[str, tuple[Address, list[Envelope]]] = {}  # runner name → (address, envelopes)
        self.envelopes = self.posts = 0
        self.log: Any = logs.get()

    # ---- thespian's side ------------------------------------------------------------------------

    def receiveMessage(self, msg: Any, sender: Address) -> Any:
        match msg:
            case Envelope() | Batch():
                self._arrived(msg, sender)
            case Spawn():
                self._arrived(msg, sender)
                if msg.request_id:
                    self.send(sender, Spawned(request_id=msg.request_id, ref=self._ref(msg.key)))
            case WatchMessage():
                for key in self.work.collect() if self.work else []:
                    self._enqueue(key, WatchMessage([]), self.myAddress)
                self._asked()
            case Answer(to=to, msg=inner) if self.door:
                self.door.answer(to, inner)
            case WakeupMessage(payload=Tick()):
                self.armed = [t for t in self.armed if t > time.monotonic() + 0.001]
                for key, delay_s, payload in self.timers.due():
                    self._enqueue(key, WakeupMessage(timedelta(seconds=delay_s), payload), self.myAddress)
            case Turn():
                self.turn_asked = False
            case RunnerStart():
                self._start(msg)
                self.send(sender, RunnerStarted(request_id=msg.request_id, pid=os.getpid()))
            case RunnerLoad():
                self.send(msg.reply_to or sender, self._load(msg.request_id))
            case ChildActorExited():
                self._runner_ended(msg.childAddress)
            case ActorSystemConventionUpdate():
                for key in self.convention:
                    self._enqueue(key, msg, sender)
            case ActorExitRequest():
                self._exit_all()
                return None
        self._run()
        self._arm()
        self._post()
        if self.door:
            self.door.pace(len(self.mailbox) + len(self.door.arrived))
        return self.work.watch() if self.work else None

    def _start(self, msg: RunnerStart) -> None:
        self.name, self.host, self.settings = msg.name, msg.host, msg.settings
        logs.configure_actor(msg.settings)
        self.log = logs.get(actor="runner", runner=msg.name, pid=os.getpid())
        self.work = self.work or WorkPool(THREADS)
        self.peers = Peers(msg.peers, self.work.loop)
        if msg.door is not None and self.door is None:
            self.door = Door(msg.door, self.myAddress, self.name, self.work.wake)
            self.work.run(self.door.open())
        self.log.info("runner.started", host=msg.host)

    # ---- the hosted actors' side ----------------------------------------------------------------

    def spawn(self, cls: type, requirements: Any, parent: Ref) -> Ref:
        """A child of `parent`: on a runner of the host the requirements name (made there at first
        need); else beside it, so that their messages are in-process calls, unless its class spreads
        (`SPREADS`: task actors, the work of a workspace): then on this machine's runners in turn, which
        talk through their doors (docs/design.md, "Runners")."""
        host = (requirements or {}).get(HOST) or self.host
        key = f"{kind_of(cls)}-{self.name}-{next(self.counter)}"
        spawn = Spawn(request_id="", cls=cls, key=key, parent=parent)
        if host != self.host:
            name, addr = self._remote_runner(host, requirements.get(JOINED, ""))
            self.send(addr, spawn)
        elif getattr(cls, "SPREADS", False) and self.peers:
            name, addr = self.peers.next_runner(self.name, self.myAddress)
            if name != self.name:
                self.peers.send(name, spawn)  # on the line its messages take: made before they come
        else:
            name, addr = self.name, self.myAddress
        if name == self.name:
            self._host(key, cls, parent)
        child = Ref(addr, name, key)
        self.hosted[parent.key].children[child] = None
        return child

    def route(self, target: Address, msg: Any, sender: Ref) -> None:
        if isinstance(target, DoorAddress):  # the web process asked through a runner's door
            if target.runner_name == self.name and self.door:
                self.door.answer(target, msg)
            elif target.runner_name in self.peers:
                self.peers.send(target.runner_name, Answer(target, msg))
            else:
                self.send(target.runner, Answer(target, msg))
        elif not isinstance(target, Ref):
            self.send(target, msg)  # the web process's bridge, the admin script
        elif target.runner_name == self.name:
            self._enqueue(target.key, msg, sender)
        else:  # posted at the end of this turn (a request's: after it), with the rest for that runner
            self.outbox.setdefault(target.runner_name, (target.runner, []))[1].append(
                Envelope(target, msg, sender, self.mailbox.in_request)
            )

    def watch_convention(self, key: str, start: bool) -> None:
        if start and key not in self.convention:
            self.convention.append(key)
            self.notifyOnSystemRegistrationChanges(True)

    def offload_for(self, key: str) -> Offload:
        assert self.work
        return Offload(self.work, key)

    # ---- the mailbox ----------------------------------------------------------------------------

    def _ref(self, key: str) -> Ref:
        return Ref(self.myAddress, self.name, key)

    def _arrived(self, arrival: Arrival, sender: Address) -> None:
        """What came for this runner's actors, over thespian or through its door (`sender`: thespian's,
        for an Envelope that names none: the bridge's, the admin script's)."""
        match arrival:
            case Envelope(to=to, msg=inner, sender=origin, request=request):
                self._enqueue(to.key, inner, sender if origin is None else origin, request)
            case Batch(envelopes=envelopes):
                for envelope in envelopes:
                    self._enqueue(envelope.to.key, envelope.msg, envelope.sender, envelope.request)
            case Spawn():
                self._host(arrival.key, arrival.cls, arrival.parent)

    def _host(self, key: str, cls: type, parent: Ref | None) -> None:
        actor = cls()
        actor._myRef = Cell(self, self._ref(key))
        self.hosted[key] = Hosted(actor, parent)
        for msg, sender, at in self.unborn.pop(key, []):
            self.mailbox.put((key, msg, sender, at))

    def _enqueue(self, key: str, msg: Any, sender: Address, request: bool = False) -> None:
        now = time.monotonic()
        if key in self.hosted or key in self.sleeping:
            self.mailbox.put((key, msg, sender, now), request)
        elif key not in self.ended:
            # Its Spawn may still be on its way (from another runner than this message): kept a while.
            self.unborn.setdefault(key, []).append((msg, sender, now))

    def _run(self) -> None:
        """Handle what the mailbox holds, up to a turn's worth; then let thespian in (Turn). What the
        actors push to the hub meanwhile shares `sendall`s (actors/push.py)."""
        with Pusher.holding():
            for _ in range(TURN):
                if not self.mailbox:
                    break
                key, msg, sender, at = self.mailbox.take()
                request = self.mailbox.in_request
                entry = self.hosted.get(key) or self._wake(key)
                if entry is None:
                    continue  # ended since: a dead letter
                if isinstance(msg, ChildActorExited):
                    entry.children.pop(msg.childAddress, None)
                if len(self.waits) < WAIT_SAMPLE:
                    self.waits.append(time.monotonic() - at)
                try:
                    entry.actor.receiveMessage(msg, sender)
                except Exception:  # the actors guard their handlers; this is a bug, and the runner lives on
                    self.log.exception("runner.handler_failed", actor=key, message=type(msg).__name__)
                if isinstance(msg, ActorExitRequest):
                    self._ended(key)
                elif key in self.sleepy:
                    self._sleep(key, self.sleepy.pop(key))
                if request and self.outbox:  # its hops to other runners go now, not at the turn's end
                    self._post()
                Pusher.flush_due()
                if self.door and self.door.arrived:  # a request that came meanwhile goes next
                    self._asked()
            self.mailbox.handled()  # what the runner itself puts from now on follows no request
        if self.mailbox and not self.turn_asked:
            self.turn_asked = True
            self.send(self.myAddress, Turn())
        self._expire_unborn()

    def _ended(self, key: str) -> None:
        """The actor exited: its children are told to, its parent hears of it."""
        entry = self.hosted.pop(key, None)
        if entry is None:
            return
        self.ended[key] = None
        if len(self.ended) > ENDED_KEPT:
            del self.ended[next(iter(self.ended))]
        memory.release_soon()
        offload = getattr(entry.actor, "offload", None)
        if isinstance(offload, Offload):
            offload.close()
        me = self._ref(key)
        for child in entry.children:
            self.route(child, ActorExitRequest(), me)
        if entry.parent is not None:
            self.route(entry.parent, ChildActorExited(me), me)

    def _sleep(self, key: str, start: Any) -> None:
        """Out of memory, closing what it holds as at an exit; its key stays its address. Only a
        top-level actor with no child: nothing else knows it by an address it could lose."""
        entry = self.hosted[key]
        if entry.parent is not None or entry.children:
            self.log.warning("runner.sleep_refused", actor=key, children=len(entry.children))
            return
        entry.actor.receiveMessage(ActorExitRequest(), self.myAddress)
        del self.hosted[key]
        self.sleeping[key] = (type(entry.actor), start)
        memory.release_soon()

    def _wake(self, key: str) -> Hosted | None:
        """A message for an actor asleep: made again, handed its start message first."""
        slept = self.sleeping.pop(key, None)
        if slept is None:
            return None
        cls, start = slept
        self._host(key, cls, None)
        entry = self.hosted[key]
        entry.actor.receiveMessage(start, self.myAddress)
        return entry

    def _runner_ended(self, addr: Address) -> None:
        """A runner this one made on another host ended (its worker died or left): every actor it hosted
        is gone, and their parents here hear so, as they would of a process that died."""
        gone = [where for where, (_, a) in self.remote.items() if a == addr]
        for where in gone:
            name, _ = self.remote.pop(where)
            for key, entry in self.hosted.items():
                for child in [c for c in entry.children if c.runner_name == name]:
                    del entry.children[child]
                    self.mailbox.put((key, ChildActorExited(child), child, time.monotonic()))
            self.log.warning("runner.remote_ended", host=where[0], runner=name)

    def _remote_runner(self, host: str, joined: str) -> tuple[str, Address]:
        """This runner's runner on a worker, made at first need. One per run of the worker: a worker
        that rejoined is a fresh actor system, and the runner of its earlier run is gone with it."""
        if (host, joined) not in self.remote:
            assert self.settings, "a runner places actors only once started"
            addr = self.createActor(Runner, targetActorRequirements=on_host(host, joined))
            name = f"{host}/{self.name}/{len(self.remote)}"
            start = RunnerStart(request_id="", name=name, host=host, settings=self.settings)
            self.send(addr, start)
            self.remote[host, joined] = (name, addr)
        return self.remote[host, joined]

    def _asked(self) -> None:
        """What came through the door: the web's asks (in the request lane), the other runners' posts."""
        for arrival in self.door.take() if self.door else []:
            self._arrived(arrival, self.myAddress)

    def _expire_unborn(self) -> None:
        if not self.unborn:
            return
        old = time.monotonic() - UNBORN_S
        for key in [k for k, msgs in self.unborn.items() if msgs[0][2] < old]:
            self.log.warning("runner.dead_letters", actor=key, count=len(self.unborn.pop(key)))

    def _post(self) -> None:
        """What this turn has for other runners: one thespian message to each (a Batch if more than one)."""
        outbox, self.outbox = self.outbox, {}
        for name, (addr, envelopes) in outbox.items():
            post = envelopes[0] if len(envelopes) == 1 else Batch(envelopes)
            if name in self.peers:
                self.peers.send(name, post)
            else:
                self.send(addr, post)
            self.envelopes, self.posts = self.envelopes + len(envelopes), self.posts + 1

    def _arm(self) -> None:
        """One thespian wakeup on its way for the earliest hosted timer (none can be cancelled: an
        earlier timer arms another, and a wakeup that finds nothing due is harmless)."""
        due = self.timers.next_due()
        if due is None or any(t <= due + 0.001 for t in self.armed):
            return
        self.armed.append(due)
        self.wakeupAfter(timedelta(seconds=max(0.0, due - time.monotonic())), payload=Tick())

    def _exit_all(self) -> None:
        """The system shuts down: every hosted actor hears ActorExitRequest (closing what it holds)."""
        for key, entry in list(self.hosted.items()):
            try:
                entry.actor.receiveMessage(ActorExitRequest(), self.myAddress)
            except Exception:
                self.log.exception("runner.exit_failed", actor=key)
        self.hosted.clear()
        self.peers.close()
        if self.work:
            if self.door:
                self.work.run(self.door.close())
            self.work.close()

    def _load(self, request_id: str) -> RunnerLoaded:
        hosted = Counter(kind_of(type(entry.actor)) for entry in self.hosted.values())
        waits, self.waits = self.waits, []
        return RunnerLoaded(
            request_id=request_id,
            name=self.name,
            top=[key for key, entry in self.hosted.items() if entry.parent is None],
            hosted=dict(hosted),
            asleep=list(self.sleeping),
            mailbox=len(self.mailbox),
            envelopes=self.envelopes,
            posts=self.posts,
            waits=waits,
        )
