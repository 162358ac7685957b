"""Messages of the ClusterActor (actors/cluster/actor.py): which hosts serve task actors, and where each
task lives."""

from pathlib import Path

from pydantic import BaseModel

from schemas.api import HostInfo
from schemas.messages import Message, Reply, Request
from schemas.settings import Settings


class Host(BaseModel):
    """One actor system that hosts task actors: the leader, or a worker of the convention."""

    name: str
    data: Path  # the host's data directory (its task databases, sandboxes, mirrors)
    capacity: int  # tasks it may hold (not archived, killed or deleted); 0: no limit (the leader)
    up: bool = True
    since: str = ""  # when it joined, or was last seen leaving


class StartCluster(Request):
    settings: Settings


class ClusterStarted(Reply):
    pass


class WatchHosts(Message):
    """Project → cluster: send me Hosts now and after every change. One watcher per project: a project's
    actor made again (after it passivated) takes the place of the one before, which is gone."""

    project: str  # "workspace/name"


class Hosts(Message):
    hosts: dict[str, Host]


class ListHosts(Request):
    pass


class HostsListed(Reply):
    hosts: list[HostInfo]


class Place(Message):
    """Project → cluster, on create: on which host does this new task live? Idempotent by task id."""

    task_id: str


class Placed(Message):
    task_id: str
    host: str


class Unplace(Message):
    """Project → cluster: the task was archived, killed or deleted; its host's capacity frees."""

    task_id: str


class FindLostAgents(Request):
    """Web process → cluster, at start-up: which of these running tasks of the leader lost their agent
    (a reboot, an OOM)? Asked of an actor, since looking means scanning processes and reading task
    databases, which is the actors' side (a worker's mirror actors scan their host when it joins)."""

    task_ids: list[str]


class LostAgents(Reply):
    task_ids: list[str]
    live: list[str] = []  # those whose agent lives: their actors follow its stream again
