"""ProjectActor driven without an actor system: messages in, sends recorded."""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from thespian.actors import ActorExitRequest, ChildActorExited, WakeupMessage

from actors.project import actor as project_module
from actors.project.actor import ProjectActor
from actors.project.base import Quiet
from actors.project.kits import Kit
from actors.project.registry import Reserved
from actors.runtime.hosts import LEADER
from actors.task.actor import TaskActor
from schemas.api import Project, TaskCreate
from schemas.cluster_messages import Host, Hosts, Place, Unplace
from schemas.messages import Drain, Drained, Failure
from schemas.project_messages import (
    ActivateTasks,
    AgentFreed,
    Evict,
    Passivate,
    ProjectBusy,
    ProjectIdle,
    ProjectIdleOk,
    SlotFree,
    StartProject,
    Stay,
    TaskRemoved,
)
from schemas.settings import Settings
from schemas.task_messages import Activate, Bind, Initialize, ReadTask
from schemas.workspace_messages import CreateTask
from tests.helpers.addresses import Named

WS, WEB = Named("ws"), Named("web")
PROJECT = Project(workspace="ws", name="demo", repo="/repo", created_at="2026-11-27T00:00:00Z")


class HarnessProject(ProjectActor):
    myAddress = Named("project")


@pytest.fixture(autouse=True)
def _no_actor_logs(monkeypatch):
    """StartProject configures file logging for an actor process; this process is pytest's."""
    monkeypatch.setattr(project_module.logs, "configure_actor", lambda *args: None)


def started(
    tmp_path: Any, monkeypatch: Any, name: str = "project", **settings: Any
) -> tuple[HarnessProject, list[Any], Settings]:
    """A project past its StartProject with its leader's kit (mirror "mirror"); the task actors it
    makes are named task-1, task-2, …; what it sends (and the wakeups it asks for) is recorded."""
    monkeypatch.setattr(project_module.ProjectActor, "_start_kit", lambda self, kit, scan: None)
    sent: list[tuple[Any, Any]] = []
    actor = HarnessProject()
    actor.myAddress = Named(name)
    made = (f"{name}-task-{n}" if name != "project" else f"task-{n}" for n in itertools.count(1))
    actor.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]
    actor.wakeupAfter = lambda delay, payload: sent.append(("wakeup", payload))  # type: ignore[method-assign]

    def create_actor(cls: type, targetActorRequirements: Any = None) -> Named:
        assert cls is TaskActor
        return Named(next(made))

    actor.createActor = create_actor  # type: ignore[method-assign]
    config = Settings(data_dir=tmp_path, **settings)
    actor.receiveMessage(StartProject(project=PROJECT, settings=config, workspace_addr=WS), WS)
    kit = Kit.on(Host(name=LEADER, data=tmp_path, capacity=0), PROJECT, config, WS, Named(name))
    kit.mirror = Named("mirror")
    actor.kits[LEADER] = kit
    sent.clear()
    return actor, sent, config


def create(actor: ProjectActor, key: str) -> None:
    body = TaskCreate(prompt="p")
    actor.receiveMessage(CreateTask(request_id=key, project="demo", body=body, reply_to=WEB), WS)


def kinds(sent: list[Any]) -> list[tuple[Any, type]]:
    return [(to, type(msg)) for to, msg in sent if to != "wakeup"]


def close(*actors: ProjectActor) -> None:
    for actor in actors:
        assert actor.registry
        actor.registry.conn.close()


def test_a_read_goes_to_the_mirror_actor_on_the_tasks_host_and_makes_no_task_actor(tmp_path, monkeypatch):
    """The reader interface for a passive task: the actor on its host reads the database; no task actor
    is made for it (a read used to run the task's provisioning past the cap)."""
    actor, sent, _ = started(tmp_path, monkeypatch)
    read = ReadTask(request_id="r1", task_id="t" * 22, limit=5)
    actor.receiveMessage(read, WEB)
    assert sent == [("mirror", read.model_copy(update={"reply_to": "web"}))] and actor.tasks == {}

    del actor.kits[LEADER]  # its host is gone: unreachable
    sent.clear()
    actor.receiveMessage(read, WEB)
    [(to, refused)] = sent
    assert to == "web" and isinstance(refused, Failure) and refused.code == "host_unreachable"
    close(actor)


def test_a_create_makes_a_task_actor_binds_it_and_then_initializes_it(tmp_path, monkeypatch):
    actor, sent, _ = started(tmp_path, monkeypatch)
    create(actor, "c1")
    assert kinds(sent) == [("task-1", Bind), ("task-1", Initialize)]
    task_id, init = sent[1][1].task_id, sent[1][1]
    assert init.provision and actor.tasks == {task_id: "task-1"} and actor.gate and actor.gate.live == 1
    close(actor)


def test_at_the_cap_a_create_initializes_at_once_and_its_task_waits_for_a_slot(tmp_path, monkeypatch):
    """A create is never kept waiting: at the cap its actor initializes the task without provisioning,
    asks to go (queued), and the task is activated by a fresh actor once a slot frees."""
    actor, sent, _ = started(tmp_path, monkeypatch, max_live_tasks=1)
    create(actor, "c1")
    first = sent[1][1].task_id
    create(actor, "c2")
    second, init = sent[3][1].task_id, sent[3][1]
    assert not init.provision
    actor.receiveMessage(Passivate(task_id=second, routed=1, queued=True), "task-2")
    assert kinds(sent[4:]) == [("task-2", ActorExitRequest)] and actor.queued == [second]
    sent.clear()

    actor.receiveMessage(Passivate(task_id=first, routed=1), "task-1")  # at rest past its idle timeout
    assert kinds(sent) == [("task-1", ActorExitRequest), ("task-3", Bind), ("task-3", Activate)]
    assert sent[2][1].task_id == second and actor.queued == []
    close(actor)


def test_an_actor_that_asked_to_go_stays_if_a_message_was_routed_to_it_since(tmp_path, monkeypatch):
    """Its Passivate crossed a command on its way: the project counts what it routed and the actor what
    it handled, and until they agree the actor stays (that command may start a step)."""
    actor, sent, _ = started(tmp_path, monkeypatch)
    create(actor, "c1")
    task_id = sent[1][1].task_id
    actor.receiveMessage(ActivateTasks(task_ids=[task_id]), WS)  # routed: the second message
    sent.clear()
    actor.receiveMessage(Passivate(task_id=task_id, routed=1), "task-1")
    assert kinds(sent) == [("task-1", Stay)] and actor.tasks == {task_id: "task-1"}
    actor.receiveMessage(Passivate(task_id=task_id, routed=2), "task-1")
    assert kinds(sent[1:]) == [("task-1", ActorExitRequest)] and actor.tasks == {}
    actor.receiveMessage(Passivate(task_id=task_id, routed=2), "task-1")  # stale: not its actor now
    assert len(kinds(sent)) == 2
    close(actor)


def test_a_task_that_must_wait_for_a_slot_evicts_the_actor_longest_at_rest_of_any_project(
    tmp_path, monkeypatch
):
    """Tasks at rest keep their actors for their idle timeout only while nobody needs the slot: at
    rest, an actor is listed; a task that needs a slot at the cap has the oldest listed one let go (at
    once if it is its own project's, else asked of its project) and takes its slot. Just at rest while
    a task waits, an actor goes at once."""
    a, sent_a, _ = started(tmp_path, monkeypatch, "a", max_live_tasks=2)
    b, sent_b, _ = started(tmp_path, monkeypatch, "b", max_live_tasks=2)
    create(a, "c1")
    create(a, "c2")
    first, second = sent_a[1][1].task_id, sent_a[3][1].task_id
    a.receiveMessage(Passivate(task_id=first, routed=1, resting=True), "a-task-1")
    assert kinds(sent_a[4:]) == [] and a.tasks[first] == "a-task-1"  # kept, listed

    b.receiveMessage(ActivateTasks(task_ids=["0" * 22]), WS)  # at the cap: it waits, evicting
    assert kinds(sent_b) == [("a", Evict)]
    a.receiveMessage(sent_b[0][1], "b")
    assert kinds(sent_a[4:]) == [("a-task-1", ActorExitRequest), ("b", SlotFree)]
    b.receiveMessage(SlotFree(), "a")
    assert kinds(sent_b[1:]) == [("b-task-1", Bind), ("b-task-1", Activate)]

    b.receiveMessage(ActivateTasks(task_ids=["1" * 22]), WS)  # nothing at rest to evict: it waits
    a.receiveMessage(Passivate(task_id=second, routed=1, resting=True), "a-task-2")
    assert kinds(sent_a[6:]) == [("a-task-2", ActorExitRequest), ("b", SlotFree)]  # at once
    b.receiveMessage(SlotFree(), "a")
    b.receiveMessage(Passivate(task_id="1" * 22, routed=1, resting=True), "b-task-2")
    sent_b.clear()
    create(b, "c3")  # its own actor at rest goes first, and the create provisions
    assert kinds(sent_b) == [("b-task-2", ActorExitRequest), ("b-task-3", Bind), ("b-task-3", Initialize)]
    assert sent_b[2][1].provision
    close(a, b)


def test_a_slot_freed_by_one_project_wakes_the_project_of_its_runner_that_waited_longest(
    tmp_path, monkeypatch
):
    """The cap is the runner's (open files): projects of one runner share one gate, and a slot given
    back goes to whichever of them waited first for one."""
    a, sent_a, _ = started(tmp_path, monkeypatch, "a", max_live_tasks=1)
    b, sent_b, _ = started(tmp_path, monkeypatch, "b", max_live_tasks=1)
    assert a.gate is b.gate
    create(a, "c1")
    held = sent_a[1][1].task_id
    b.receiveMessage(ActivateTasks(task_ids=["0" * 22]), WS)  # a resume at the cap: queued
    assert kinds(sent_b) == [] and b.queued == ["0" * 22]

    a.receiveMessage(Passivate(task_id=held, routed=1), "a-task-1")
    assert kinds(sent_a[2:]) == [("a-task-1", ActorExitRequest), ("b", SlotFree)]
    b.receiveMessage(SlotFree(), "a")
    assert kinds(sent_b) == [("b-task-1", Bind), ("b-task-1", Activate)] and b.queued == []
    close(a, b)


def test_a_task_actor_that_ended_unasked_frees_its_slot_for_the_oldest_waiting_task(tmp_path, monkeypatch):
    """Its worker went, taking its runner: the project hears ChildActorExited and forgets the actor."""
    actor, sent, _ = started(tmp_path, monkeypatch, max_live_tasks=1)
    create(actor, "c1")
    actor.receiveMessage(ActivateTasks(task_ids=["0" * 22]), WS)
    sent.clear()
    actor.receiveMessage(ChildActorExited("task-1"), "system")
    assert kinds(sent) == [("task-2", Bind), ("task-2", Activate)]
    assert list(actor.tasks.values()) == ["task-2"]
    close(actor)


def test_the_actor_of_a_deleted_task_is_let_go_and_the_cluster_forgets_its_placement(tmp_path, monkeypatch):
    actor, sent, _ = started(tmp_path, monkeypatch)
    actor.cluster_addr = "cluster"  # a worker is part of it
    assert actor.registry
    body = TaskCreate(prompt="p")
    reserved = actor.registry.reserve(CreateTask(request_id="c", project="demo", body=body), placed="w1")
    assert isinstance(reserved, Reserved)
    actor.tasks[reserved.task_id], actor.routed[reserved.task_id] = "its-actor", 1
    actor.task_of["its-actor"] = reserved.task_id

    actor.receiveMessage(TaskRemoved(task_id=reserved.task_id), "its-actor")
    assert kinds(sent) == [
        ("its-actor", ActorExitRequest),
        ("cluster", Unplace),
        ("ws", AgentFreed),  # its agent slot, if it held one
    ]
    assert actor.tasks == {} and actor.registry.host_of(reserved.task_id) is None
    close(actor)


def test_a_drain_is_answered_once_every_live_task_actor_answered_or_ended(tmp_path, monkeypatch):
    actor, sent, _ = started(tmp_path, monkeypatch)
    create(actor, "c1")
    create(actor, "c2")
    sent.clear()
    actor.receiveMessage(Drain(request_id="d"), WS)
    assert kinds(sent) == [("task-1", Drain), ("task-2", Drain)]
    actor.receiveMessage(Drained(request_id="d"), "task-1")
    assert len(sent) == 2
    actor.receiveMessage(ChildActorExited("task-2"), "system")
    assert kinds(sent[2:]) == [("ws", Drained)]
    close(actor)


def test_a_quiet_project_with_nothing_live_offers_to_go_and_goes_only_if_still_idle(tmp_path, monkeypatch):
    """Single host: quiet for the idle timeout with no task live, the project offers to go (once until
    answered). At the answer it exits if still idle; a create routed before the answer keeps it."""
    actor, sent, _ = started(tmp_path, monkeypatch, idle_timeout_s=60)
    quiet = WakeupMessage(timedelta(seconds=60), payload=Quiet())
    actor.idle.busy_at -= 60  # quiet since its start, a minute ago
    actor.receiveMessage(quiet, "system")
    actor.receiveMessage(quiet, "system")
    assert kinds(sent) == [("ws", ProjectIdle)]
    create(actor, "c")  # routed before the workspace's answer
    sent.clear()
    actor.receiveMessage(ProjectIdleOk(), WS)
    assert kinds(sent) == [("ws", ProjectBusy)]

    [task_id] = actor.tasks
    actor.receiveMessage(Passivate(task_id=task_id, routed=1), "task-1")
    sent.clear()
    actor.receiveMessage(quiet, "system")
    assert sent == [("wakeup", Quiet())]  # its task just went: not quiet long enough, look again later
    actor.idle.busy_at -= 60
    actor.receiveMessage(quiet, "system")
    actor.receiveMessage(ProjectIdleOk(), WS)
    assert kinds(sent[1:]) == [("ws", ProjectIdle), ("project", ActorExitRequest)]
    close(actor)


def test_a_create_waits_for_the_clusters_first_hosts_to_know_where_to_place_the_task(tmp_path, monkeypatch):
    """A project is started on demand, often by the create itself: until the cluster's first Hosts it
    cannot know that a worker is up, and would place the task on the leader."""
    actor, sent, _ = started(tmp_path, monkeypatch)
    actor.cluster_addr = "cluster"
    body = TaskCreate(prompt="p")
    create = CreateTask(request_id="c", project="demo", body=body, reply_to=WEB)
    actor.receiveMessage(create, WS)
    assert kinds(sent) == [] and actor.early == [create]

    def start_kit(self: ProjectActor, kit: Kit, scan: list[str]) -> None:
        kit.mirror = f"mirror@{kit.host.name}"
        self.kits[kit.host.name] = kit

    monkeypatch.setattr(ProjectActor, "_start_kit", start_kit)
    monkeypatch.setattr(ProjectActor, "_host_state", lambda self, host, down_since: None)
    actor.receiveMessage(Hosts(hosts={"w1": Host(name="w1", data=tmp_path, capacity=2)}), "cluster")
    [(to, place)] = sent
    assert to == "cluster" and isinstance(place, Place) and actor.early is None
    close(actor)
