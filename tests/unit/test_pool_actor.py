"""TaskPoolActor driven without an actor system: messages in, sends recorded."""

from typing import Any

from thespian.actors import ChildActorExited

from actors.hosts import LEADER
from actors.project.kits import Kit
from actors.project.pool import TaskPoolActor
from schemas.api import Project
from schemas.cluster_messages import Host
from schemas.project_messages import StartPool, TaskActorExited
from schemas.settings import Settings


def test_a_task_actors_exit_reaches_the_project_once_though_thespian_reports_it_twice(tmp_path):
    """Seen in a run with 50 projects: thespian reported one child's exit twice. The project takes the
    exit of an actor it does not know for a fork that ended unbound, so a second report counted a fork
    twice; its count went below zero, and the project never went idle again."""
    project = Project(workspace="ws", name="demo", repo="/repo", created_at="2026-11-27T00:00:00Z")
    kit = Kit.on(
        Host(name=LEADER, data=tmp_path, capacity=0), project, Settings(data_dir=tmp_path), "ws", "project"
    )
    sent: list[tuple[Any, Any]] = []
    children = iter(["child-1", "child-2"])
    pool = TaskPoolActor()
    pool.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]
    pool.createActor = lambda cls: next(children)  # type: ignore[method-assign]
    pool.receiveMessage(StartPool(bind=kit.bind, size=2, scan=[]), "project")
    sent.clear()

    for child in ("child-1", "child-1", "child-2", "stranger"):
        pool.receiveMessage(ChildActorExited(child), "system")
    assert [(to, type(msg), msg.address) for to, msg in sent] == [
        ("project", TaskActorExited, "child-1"),
        ("project", TaskActorExited, "child-2"),
    ]
