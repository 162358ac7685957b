"""A project's footing on one host: the mirror its task actors check out from, and the pool that
makes them there. The leader has one kit per project; each worker of the convention gets another when
it joins (actors/cluster/actor.py), created there by capability (actors/hosts.py).
"""

import time
from dataclasses import dataclass, field
from typing import Any

from actors import hosts
from actors.project.mirror import MirrorActor, mirror_path
from actors.project.pool import TaskPoolActor
from schemas.api import Project
from schemas.cluster_messages import Host
from schemas.project_messages import StartMirror, StartPool
from schemas.settings import Settings
from schemas.task_messages import Bind


@dataclass
class Kit:
    host: Host
    project: Project
    bind: Bind  # what the host's task actors are bound with: its data directory, its mirror
    mirror: Any = None  # the MirrorActor
    pool: Any = None  # the TaskPoolActor
    ready: list[Any] = field(default_factory=list)  # bound task actors with no task yet
    forking: int = 0  # forks asked of the pool, not yet ready
    busy_until: float = 0.0  # time.monotonic() until which the whole pool is kept ready (see use)
    watched: bool = False  # a Quiet wakeup is pending for this kit

    @classmethod
    def on(
        cls, host: Host, project: Project, settings: Settings, workspace_addr: Any, project_addr: Any
    ) -> "Kit":
        """A worker's task actors write under its data directory and send their events through the
        project (the hub's socket is the leader's); the leader's push to the hub directly."""
        remote = host.name != hosts.LEADER
        local = settings.model_copy(update={"data_dir": host.data}) if remote else settings
        bind = Bind(
            workspace=project.workspace,
            project=project.name,
            repo=project.repo,
            mirror=mirror_path(local.data_dir, project.workspace, project.name),
            settings=local,
            workspace_addr=workspace_addr,
            project_addr=project_addr,
            host=host.name,
            relay=project_addr if remote else None,
        )
        return cls(host=host, project=project, bind=bind)

    @property
    def up(self) -> bool:
        return self.host.up and self.pool is not None

    def start_mirror(self, parent: Any) -> None:
        self.mirror = parent.createActor(MirrorActor, targetActorRequirements=self._where())
        start = StartMirror(project=self.project, mirror=self.bind.mirror, settings=self.bind.settings)
        parent.send(self.mirror, start)

    def start_pool(self, parent: Any, scan: list[str]) -> None:
        """`scan`: this project's tasks on the host; the pool answers which of them must resume."""
        self.pool = parent.createActor(TaskPoolActor, targetActorRequirements=self._where())
        self.ready, self.forking = [], self.size
        parent.send(self.pool, StartPool(bind=self.bind, size=self.forking, scan=scan))

    def use(self) -> None:
        """A task needed an actor here: the whole pool stays ready for the next `pool_idle_s`."""
        self.busy_until = time.monotonic() + self.bind.settings.pool_idle_s

    def quiet_in(self) -> float:
        """Seconds until the kit is quiet (0: it is)."""
        return max(0.0, self.busy_until - time.monotonic())

    @property
    def size(self) -> int:
        """`pool_size` ready actors while busy, one once quiet: a quiet project's create still finds a
        ready actor, and the processes kept idle follow the projects in use, not those registered."""
        return self.bind.settings.pool_size if self.quiet_in() else 1

    @property
    def short(self) -> bool:
        """Fewer actors ready or forked and on their way than the kit's size."""
        return len(self.ready) + self.forking < self.size

    def gone(self, addr: Any) -> None:
        """An actor of this kit exited: it is ready no more."""
        self.ready = [a for a in self.ready if a != addr]

    def roles(self) -> list[tuple[str, str, Any, str]]:
        """(kind, host, address, key of its `since`) of this kit's actors, for Describe."""
        name = self.host.name
        ready = [("ready", name, a, str(a)) for a in self.ready]
        return [
            ("mirror", name, self.mirror, f"mirror@{name}"),
            ("pool", name, self.pool, f"pool@{name}"),
            *ready,
        ]

    def down(self) -> None:
        """Unreachable: its actors are gone or cut off; nothing is routed there until it rejoins."""
        self.host = self.host.model_copy(update={"up": False})
        self.mirror, self.pool, self.ready, self.forking = None, None, [], 0

    def _where(self) -> dict[str, str] | None:
        return hosts.on_host(self.host.name, self.host.since) if self.host.name != hosts.LEADER else None
