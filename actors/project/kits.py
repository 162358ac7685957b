"""A project's footing on one host: how its task actors there are bound, and the mirror they check out
from. The leader has one kit per project; each worker of the convention gets another when it joins
(actors/cluster/actor.py), its actors created there by capability (actors/runtime/hosts.py).
"""

from dataclasses import dataclass

from thespian.actors import Actor

from actors.project.mirror import MirrorActor, mirror_path
from actors.runtime import hosts
from schemas.api import Project
from schemas.cluster_messages import Host
from schemas.messages import Address
from schemas.project_messages import StartMirror
from schemas.settings import Settings
from schemas.task_messages import Bind


@dataclass
class Kit:
    host: Host
    project: Project
    bind: Bind  # what the host's task actors are bound with: its data directory, its mirror
    mirror: Address | None = None  # the MirrorActor

    @classmethod
    def on(
        cls, host: Host, project: Project, settings: Settings, workspace_addr: Address, project_addr: Address
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
        return self.host.up and self.mirror is not None

    def start_mirror(self, parent: Actor, scan: list[str]) -> None:
        """`scan`: this project's tasks on the host; the mirror answers which of them must resume."""
        self.mirror = parent.createActor(MirrorActor, targetActorRequirements=self.where())
        parent.send(self.mirror, StartMirror(project=self.project, bind=self.bind, scan=scan))

    def down(self) -> None:
        """Unreachable: its actors are gone or cut off; nothing is routed there until it rejoins."""
        self.host = self.host.model_copy(update={"up": False})
        self.mirror = None

    def where(self) -> dict[str, str] | None:
        """Where this kit's actors are created: on its worker, by capability."""
        return hosts.on_host(self.host.name, self.host.since) if self.host.name != hosts.LEADER else None
