"""The web process's handle on the actor system: workspace actors, start-up resume, health state."""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

import structlog

from actors.cluster.actor import ClusterActor
from actors.runtime import system
from actors.runtime.door import door_path
from actors.runtime.hosts import LEADER
from actors.runtime.refs import Ref, runner_for
from actors.runtime.runner import Runner
from actors.workspace.actor import WorkspaceActor
from backend.bridge import Bridge
from backend.door import Doors
from backend.errors import ApiError
from backend.hub import EventHub
from backend.metrics import Metrics
from backend.reader import Reader
from schemas.api import HostInfo, Workspace
from schemas.cluster_messages import FindLostAgents, HostsListed, ListHosts, LostAgents, StartCluster
from schemas.messages import ActorInfo, Address, Describe, Described, Drain, Drained, Failure, Reply, Request
from schemas.runner_messages import (
    Peer,
    RunnerLoad,
    RunnerLoaded,
    RunnerStart,
    RunnerStarted,
    Spawn,
    Spawned,
)
from schemas.settings import Settings
from schemas.task_messages import ReadTask, TaskAction, TaskCommand, TaskRead
from schemas.workspace_messages import ResumeDispatched, ResumeTasks, StartWorkspace, WorkspaceStarted

Health = Literal["starting", "ok", "draining"]
DEFAULT_WORKSPACE = "default"
RUNNER_CHECK_S = 1.0  # how often the web process looks whether its runners live


class Runtime:
    def __init__(self, settings: Settings, asys: Any, bridge: Bridge, reader: Reader, hub: EventHub) -> None:
        self.settings, self.asys, self.bridge, self.reader, self.hub = settings, asys, bridge, reader, hub
        reader.remote = self
        self.cluster: Address | None = None
        self.runners: list[tuple[str, Address]] = []  # (name, address) of this host's runners
        self.doors = Doors()  # asks to the actors they host go through their doors
        self.runner_pids: dict[str, int] = {}
        self.lost: list[str] = []  # runners that died: the server stops (watch_runners)
        self.metrics = Metrics()
        hub.on_observed = self.metrics.observe
        self.health: Health = "starting"
        self.workspaces: dict[str, Address] = {}
        self.creating: set[str] = set()  # workspaces a POST is starting (workspace_slot)
        self.log = structlog.get_logger().bind(component="runtime")

    async def start(self) -> None:
        """Start the runners, then the cluster's and every workspace's actor on them (creating `default`),
        then resume every unfinished task here (a worker's resume when it joins)."""
        await self._start_runners()
        self.cluster = await self._spawn(ClusterActor, "cluster")
        await self.ask(
            self.cluster, StartCluster(request_id=self.bridge.request_id(), settings=self.settings)
        )
        names = {ws["name"] for ws in await self.reader.workspaces()} | {DEFAULT_WORKSPACE}
        for name in sorted(names):
            await self.start_workspace(name)
        unfinished = await self.reader.unfinished()
        by_workspace: dict[str, dict[str, str]] = {}
        for task_id, (workspace, project) in unfinished.items():
            by_workspace.setdefault(workspace, {})[task_id] = project
        for workspace, tasks in by_workspace.items():
            addr = self.workspaces.get(workspace)
            if addr is None:
                self.log.warning("resume.unknown_workspace", workspace=workspace, tasks=len(tasks))
                continue
            reply = await self.ask(addr, ResumeTasks(request_id=self.bridge.request_id(), tasks=tasks))
            assert isinstance(reply, ResumeDispatched)
        revived = await self._revive_dead_agents()
        self.log.info("runtime.ready", resumed=len(unfinished), revived=revived)
        self.health = "ok"

    async def _start_runners(self) -> None:
        """The leader's runners, by global name (`runner:N`: the admin script finds them there)."""
        addrs = [await self.bridge.create_actor(Runner, f"runner:{i}") for i in range(self.settings.runners)]
        self.runners = [(f"{LEADER}/{i}", addr) for i, addr in enumerate(addrs)]
        doors = [door_path(self.settings.data_dir, i) for i in range(len(addrs))]
        peers = [
            Peer(name=name, address=addr, door=door)
            for (name, addr), door in zip(self.runners, doors, strict=True)
            if door is not None
        ]
        for (name, addr), door in zip(self.runners, doors, strict=True):
            start = RunnerStart(
                request_id=self.bridge.request_id(),
                name=name,
                host=LEADER,
                settings=self.settings,
                door=door,
                peers=[peer for peer in peers if peer.name != name] if door else [],
            )
            started = await self.ask(addr, start)
            assert isinstance(started, RunnerStarted)
            self.runner_pids[name] = started.pid
            if door is not None:
                self.doors.paths[name] = door

    async def watch_runners(self, stop: Callable[[], object]) -> None:
        """A runner that dies takes every actor it hosted with it, while the others still route to them:
        the server stops (exit code 3), for its supervisor to start it again, and every task resumes from
        its persisted steps as after a kill -9 (docs/operations.md, "A runner died")."""
        while not self.lost:
            await asyncio.sleep(RUNNER_CHECK_S)
            self.lost = [name for name, pid in self.runner_pids.items() if not system.process_alive(pid)]
        self.log.error("runner.died", runners=self.lost)
        stop()

    async def _spawn(self, cls: type, key: str) -> Ref:
        """A top-level actor, on the runner its key names (actors/runtime/refs.py, runner_for)."""
        _, addr = self.runners[runner_for(key, len(self.runners))]
        reply = await self.ask(addr, Spawn(request_id=self.bridge.request_id(), cls=cls, key=key))
        assert isinstance(reply, Spawned) and isinstance(reply.ref, Ref)
        return reply.ref

    async def runner_loads(self) -> list[RunnerLoaded]:
        """Each runner's hosted actors and mailbox, for /metrics."""
        loads = await asyncio.gather(
            *(self.ask(a, RunnerLoad(request_id=self.bridge.request_id())) for _, a in self.runners)
        )
        return [load for load in loads if isinstance(load, RunnerLoaded)]

    async def _revive_dead_agents(self) -> int:
        """A running task here whose agent died (a reboot, an OOM) gets one back; one whose checkout
        vanished goes to error; one whose agent lives is activated, to follow the agent's stream again
        from the last message recorded. A worker's tasks are its host's to check, when it joins."""
        running = {addr: await self.reader.running(ws) for ws, addr in self.started()}  # task → project
        task_ids = [task_id for tasks in running.values() for task_id in tasks]
        lost = await self.ask(
            self.cluster, FindLostAgents(request_id=self.bridge.request_id(), task_ids=task_ids)
        )
        assert isinstance(lost, LostAgents)
        dead, alive = set(lost.task_ids), set(lost.live)
        count = 0
        for addr, tasks in running.items():
            live = {task_id: project for task_id, project in tasks.items() if task_id in alive}
            if live:
                await self.ask(addr, ResumeTasks(request_id=self.bridge.request_id(), tasks=live))
            for task_id in [t for t in tasks if t in dead]:
                revive = TaskCommand(
                    request_id=self.bridge.request_id(), task_id=task_id, action=TaskAction.revive
                )
                with contextlib.suppress(ApiError):  # no longer running: nothing to revive
                    await self.ask(addr, revive)
                    count += 1
        return count

    async def drain(self) -> None:
        """Stop admitting writes, then let every step in flight reach a persisted boundary, within the
        drain deadline. A step still running after it is cut off by the stop; it resumes at the next
        start like after a crash (every step is idempotent), so the deadline bounds the wait, not safety."""
        self.health = "draining"
        began = time.monotonic()
        deadline = self.settings.drain_deadline_s
        asks = [self._drain(addr, deadline) for _, addr in self.awake(await self.runner_loads())]
        results = await asyncio.gather(*asks, return_exceptions=True)
        late = sum(1 for r in results if not isinstance(r, Drained))
        self.log.info("runtime.drained", ms=round((time.monotonic() - began) * 1000), not_drained=late)

    def _drain(self, addr: Address, deadline: float) -> Awaitable[Reply]:
        return self.bridge.ask(addr, Drain(request_id=self.bridge.request_id()), deadline)

    def started(self) -> list[tuple[str, Address]]:
        """The workspaces started so far (name, address), as a copy to loop over. A loop that awaits
        must not iterate `workspaces` itself: a workspace created meanwhile (POST /v1/workspaces) adds
        to it, and the loop then fails with `dictionary changed size during iteration`. A workspace
        started after the copy is left out, as if the loop had run a moment earlier."""
        return list(self.workspaces.items())

    def awake(self, loads: list[RunnerLoaded]) -> list[tuple[str, Address]]:
        """The workspaces in memory as the runners' loads say: one asleep has nothing live (asking would
        only wake it)."""
        awake = {key for load in loads for key in load.top}
        return [(name, addr) for name, addr in self.started() if addr.key in awake]

    async def describe(self, loads: list[RunnerLoaded]) -> list[ActorInfo]:
        """Every live actor: each workspace awake answers for itself and its projects, all asked at once."""
        awake = self.awake(loads)
        asks = [self.ask(addr, Describe(request_id=self.bridge.request_id())) for _, addr in awake]
        actors: list[ActorInfo] = []
        for reply in await asyncio.gather(*asks):
            assert isinstance(reply, Described)
            actors += reply.actors
        return actors

    async def scrape(self) -> bytes:
        """GET /metrics: tasks by status from every workspace's projection, the live actors as they
        describe themselves, the hub's subscribers."""
        by_status: Counter[str] = Counter()
        for ws, _ in self.started():
            by_status.update(await self.reader.status_counts(ws))
        loads = await self.runner_loads()  # once: each ask hands over (and clears) its mailbox waits
        actors = await self.describe(loads)
        return self.metrics.render(dict(by_status), actors, self.hub.subscribers(), loads)

    @contextlib.contextmanager
    def workspace_slot(self, name: str) -> Iterator[None]:
        """Room for one more workspace (CRUCIBLE_MAX_WORKSPACES), held while it starts: creates in flight
        count, so concurrent ones cannot pass the limit together. A workspace costs files, and memory while
        awake (docs/benchmarks.md): any client could otherwise fill both."""
        limit = self.settings.max_workspaces
        if len(self.workspaces.keys() | self.creating) >= limit:
            message = f"this server holds at most {limit} workspaces (CRUCIBLE_MAX_WORKSPACES)"
            raise ApiError(409, "workspace_limit", message, {"limit": limit})
        self.creating.add(name)
        try:
            yield
        finally:
            self.creating.discard(name)

    async def start_workspace(self, name: str) -> tuple[bool, Workspace]:
        addr = await self._spawn(WorkspaceActor, f"workspace:{name}")
        msg = StartWorkspace(
            request_id=self.bridge.request_id(), name=name, settings=self.settings, cluster_addr=self.cluster
        )
        reply = await self.ask(addr, msg)
        assert isinstance(reply, WorkspaceStarted)
        self.workspaces[name] = addr
        system.write_pid_file(self.settings.data_dir, self.settings.actor_port, reply.identity["sid"])
        return reply.created, reply.workspace

    async def hosts(self) -> list[HostInfo]:
        reply = await self.ask(self.cluster, ListHosts(request_id=self.bridge.request_id()))
        assert isinstance(reply, HostsListed)
        return reply.hosts

    async def read_task(
        self, workspace: str, task_id: str, after: int, limit: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The reader interface for a task on a worker: its actor reads it there (activated if need be)."""
        msg = ReadTask(request_id=self.bridge.request_id(), task_id=task_id, after=after, limit=limit)
        reply = await self.ask(self.workspace_addr(workspace), msg)
        assert isinstance(reply, TaskRead)
        return reply.record, reply.events

    async def ask(self, addr: Address, msg: Request) -> Reply:
        """Ask an actor; a refusal becomes the API error it describes."""
        if self.doors.serves(addr):
            reply = await self.doors.ask(addr, msg, self.settings.ask_timeout_s)
        else:
            reply = await self.bridge.ask(addr, msg)
        if isinstance(reply, Failure):
            raise ApiError(reply.status, reply.code, reply.message, reply.details)
        return reply

    def workspace_addr(self, name: str) -> Any:
        addr = self.workspaces.get(name)
        if addr is None:
            raise ApiError(404, "workspace_not_found", f"no workspace {name!r}")
        return addr
