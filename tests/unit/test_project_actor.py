"""ProjectActor driven without an actor system: messages in, sends recorded."""

from datetime import timedelta
from typing import Any

import pytest
from thespian.actors import ActorExitRequest, WakeupMessage

from actors.hosts import LEADER
from actors.project import actor as project_module
from actors.project.actor import ProjectActor
from actors.project.base import RETIRE_AFTER, Quiet, Retire
from actors.project.kits import Kit
from actors.project.registry import Reserved
from schemas.api import Project, TaskCreate
from schemas.cluster_messages import Host, Hosts, Place, Unplace
from schemas.messages import Drain, Drained, Failure
from schemas.project_messages import (
    AgentFreed,
    LiveTasks,
    PassivateOk,
    ProjectBusy,
    ProjectIdle,
    ProjectIdleOk,
    ProjectInUse,
    StartProject,
    Taken,
    TaskActorExited,
    TaskRemoved,
)
from schemas.settings import Settings
from schemas.task_messages import Activate, Initialize, ReadTask, TaskActorReady
from schemas.workspace_messages import CreateTask

PROJECT = Project(workspace="ws", name="demo", repo="/repo", created_at="2026-11-27T00:00:00Z")


class HarnessProject(ProjectActor):
    myAddress = "project"  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _no_actor_logs(monkeypatch):
    """StartProject configures file logging for an actor process; this process is pytest's."""
    monkeypatch.setattr(project_module.logs, "configure_actor", lambda *args: None)


def started(tmp_path: Any, monkeypatch: Any, **settings: Any) -> tuple[HarnessProject, list[Any], Settings]:
    """A project past its StartProject, with no kit (each test sets up the kits it needs); what it
    sends is recorded."""
    monkeypatch.setattr(project_module.ProjectActor, "_start_kit", lambda self, kit, scan: None)
    sent: list[tuple[Any, Any]] = []
    actor = HarnessProject()
    actor.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]
    config = Settings(data_dir=tmp_path, **settings)
    share = config.max_live_tasks  # alone in its workspace
    start = StartProject(project=PROJECT, settings=config, workspace_addr="ws", live_tasks=share)
    actor.receiveMessage(start, "ws")
    return actor, sent, config


def leader_kit(actor: HarnessProject, settings: Settings, ready: list[Any], forking: int = 0) -> Kit:
    """The project's kit on the leader, its pool "pool", with these actors ready and forks in flight."""
    kit = Kit.on(Host(name=LEADER, data=settings.data_dir, capacity=0), PROJECT, settings, "ws", "project")
    kit.pool, kit.ready, kit.forking = "pool", ready, forking
    actor.kits[LEADER] = kit
    return kit


def test_a_read_goes_to_the_pool_on_the_tasks_host_and_takes_no_actor_nor_slot(tmp_path, monkeypatch):
    """The reader interface for a passive task: its host's pool reads the database; no ready actor is
    put to work for it (it used to be: a read then ran the task's provisioning past the cap)."""
    actor, sent, settings = started(tmp_path, monkeypatch)
    read = ReadTask(request_id="r1", task_id="t" * 22, limit=5)

    actor.receiveMessage(read, "web")  # no kit on the task's host: it is unreachable
    [(to, refused)] = sent
    assert to == "web" and isinstance(refused, Failure) and refused.code == "host_unreachable"

    sent.clear()
    kit = leader_kit(actor, settings, ready=["ready-1"])
    actor.receiveMessage(read, "web")
    assert sent == [("pool", read.model_copy(update={"reply_to": "web"}))]
    assert kit.ready == ["ready-1"] and actor.tasks == {} and actor.waiting == []
    assert actor.registry
    actor.registry.conn.close()


def test_a_surplus_ready_actor_exits_only_once_idle(tmp_path, monkeypatch):
    """An actor back in a full pool stays until idle for RETIRE_AFTER: one told to exit at once lost
    what it had not yet sent (thespian), such as the answer to the create it had just initialized."""
    actor, sent, settings = started(tmp_path, monkeypatch, pool_size=1)
    wakeups: list[Any] = []
    actor.wakeupAfter = lambda delay, payload: wakeups.append(payload)  # type: ignore[method-assign]
    kit = leader_kit(actor, settings, ready=[])

    actor._ready("first", kit)
    actor._ready("second", kit)  # one beyond the pool's size
    assert kit.ready == ["first", "second"] and sent == [] and wakeups == [Retire(LEADER)]

    actor.receiveMessage(WakeupMessage(RETIRE_AFTER, payload=Retire(LEADER)), "system")
    assert sent == [] and wakeups == [Retire(LEADER), Retire(LEADER)]  # not idle long enough: later

    actor.since["first"] = "2026-01-01T00:00:00.000Z"  # idle since long ago
    actor.receiveMessage(WakeupMessage(RETIRE_AFTER, payload=Retire(LEADER)), "system")
    assert [(to, type(msg)) for to, msg in sent] == [("first", ActorExitRequest)]
    assert kit.ready == ["second"] and len(wakeups) == 2
    assert actor.registry
    actor.registry.conn.close()


def test_a_quiet_projects_pool_keeps_one_actor_and_grows_back_once_a_task_waits_for_one(
    tmp_path, monkeypatch
):
    """Idle processes follow the projects in use, not those registered: a kit no task has needed an
    actor of for pool_idle_s keeps one ready (the rest exit once idle). A create takes that one and
    forks one replacement, as on a busy kit; the next task that must wait has the rest forked at once."""
    actor, sent, settings = started(tmp_path, monkeypatch, pool_size=3, pool_idle_s=60)
    wakeups: list[Any] = []
    actor.wakeupAfter = lambda delay, payload: wakeups.append((delay, payload))  # type: ignore[method-assign]
    kit = leader_kit(actor, settings, ready=["ready-1"])
    assert kit.size == 1 and not kit.short  # quiet from the start: one ready actor is its whole pool

    def create(key: str) -> None:
        body = TaskCreate(prompt="p")
        actor.receiveMessage(CreateTask(request_id=key, project="demo", body=body, reply_to="web"), "ws")

    create("c1")
    assert [(to, type(msg)) for to, msg in sent] == [
        ("ready-1", Initialize),
        ("pool", Taken),
        ("ws", ProjectInUse),  # a task actor taken: its share of the cap now counts
    ]
    assert kit.size == 3 and kit.forking == 1
    assert wakeups == [(timedelta(seconds=60), Quiet(LEADER))]
    sent.clear()
    create("c2")  # no actor ready: it waits, and the rest of the pool is forked
    assert [(to, type(msg)) for to, msg in sent] == [("pool", Taken)] * 2
    assert kit.forking == 3 and len(wakeups) == 1

    for new in ("new-1", "new-2", "new-3", "new-4"):
        actor.receiveMessage(TaskActorReady(host=LEADER), new)  # new-1 takes c2's task, forks one more
    assert kit.ready == ["new-2", "new-3", "new-4"] and kit.forking == 0
    sent.clear()
    actor.receiveMessage(WakeupMessage(timedelta(seconds=60), payload=Quiet(LEADER)), "system")
    [(delay, again)] = wakeups[1:]  # still busy: look again when it may be quiet
    assert again == Quiet(LEADER) and timedelta(0) < delay <= timedelta(seconds=60) and sent == []

    kit.busy_until = 0.0  # pool_idle_s later
    for new in ("new-2", "new-3"):
        actor.since[new] = "2026-01-01T00:00:00.000Z"  # idle since long ago
    actor.receiveMessage(WakeupMessage(delay, payload=Quiet(LEADER)), "system")
    assert [(to, type(msg)) for to, msg in sent] == [("new-2", ActorExitRequest), ("new-3", ActorExitRequest)]
    assert kit.ready == ["new-4"] and not kit.watched
    assert actor.registry
    actor.registry.conn.close()


def test_the_actor_of_a_deleted_task_goes_back_to_the_pool_of_the_tasks_host(tmp_path, monkeypatch):
    """A delete hands the actor back (it no longer exits: see above) to its own host's pool: the
    registry forgets the task's host, so the actor is placed before that."""
    actor, sent, settings = started(tmp_path, monkeypatch)
    actor.cluster_addr = "cluster"  # a worker is part of it
    for host in (LEADER, "w1"):
        kit = Kit.on(Host(name=host, data=tmp_path, capacity=1), PROJECT, settings, "ws", "project")
        kit.pool = f"pool@{host}"
        actor.kits[host] = kit
    assert actor.registry
    create = CreateTask(request_id="c", project="demo", body=TaskCreate(prompt="p"), reply_to="web")
    reserved = actor.registry.reserve(create, placed="w1")
    assert isinstance(reserved, Reserved)
    actor.tasks[reserved.task_id] = "its-actor"

    actor.receiveMessage(TaskRemoved(task_id=reserved.task_id), "its-actor")
    assert actor.kits["w1"].ready == ["its-actor"] and actor.kits[LEADER].ready == []
    assert [(to, type(msg)) for to, msg in sent] == [
        ("its-actor", PassivateOk),
        ("cluster", Unplace),
        ("ws", AgentFreed),  # its agent slot, if it held one
    ]
    assert actor.tasks == {}
    actor.registry.conn.close()


def test_a_drain_is_answered_only_once_the_pools_forks_in_flight_are_ready(tmp_path, monkeypatch):
    """The stop after a drain shuts thespian down, which an actor forked meanwhile keeps from confirming
    (a stop right after start-up waited 2 s and killed the pool's new actors): the drain waits for them."""
    actor, sent, settings = started(tmp_path, monkeypatch, pool_size=2)
    kit = leader_kit(actor, settings, ready=[], forking=2)
    kit.use()  # busy: two forks in flight, both kept

    actor.receiveMessage(Drain(request_id="d"), "ws")  # no live task actor, two forks in flight
    actor.receiveMessage(TaskActorReady(host=LEADER), "new-1")
    assert sent == []
    actor.receiveMessage(TaskActorReady(host=LEADER), "new-2")
    [(to, drained)] = sent
    assert to == "ws" and isinstance(drained, Drained) and drained.request_id == "d"
    assert kit.ready == ["new-1", "new-2"]
    assert actor.registry
    actor.registry.conn.close()


def test_a_fork_that_ends_before_it_is_bound_is_awaited_no_more(tmp_path, monkeypatch):
    """The pool reports every exit; one of an actor the project never had (not working, ready nor
    retired) was a fork in flight: without this a drain would wait for it until its deadline."""
    actor, sent, settings = started(tmp_path, monkeypatch, pool_size=2)
    kit = leader_kit(actor, settings, ready=["ready-1"], forking=1)
    actor.retired = ["retired-1"]
    actor.receiveMessage(Drain(request_id="d"), "ws")

    actor.receiveMessage(TaskActorExited(address="retired-1"), "pool")
    actor.receiveMessage(TaskActorExited(address="ready-1"), "pool")
    assert kit.forking == 1 and kit.ready == [] and actor.retired == [] and sent == []
    actor.receiveMessage(TaskActorExited(address="never-bound"), "pool")
    assert kit.forking == 0
    [(to, drained)] = sent
    assert to == "ws" and isinstance(drained, Drained)
    assert actor.registry
    actor.registry.conn.close()


def test_a_quiet_project_with_nothing_live_offers_to_go_and_goes_only_if_still_idle(tmp_path, monkeypatch):
    """Single host: once its kit is quiet and no task is live, the project offers to go (once until
    answered). At the answer it exits if still idle; a create routed before the answer keeps it."""
    actor, sent, settings = started(tmp_path, monkeypatch, pool_idle_s=60)
    actor.wakeupAfter = lambda delay, payload: None  # type: ignore[method-assign]
    kit = leader_kit(actor, settings, ready=["ready-1"])
    quiet = WakeupMessage(timedelta(seconds=60), payload=Quiet(LEADER))

    actor.receiveMessage(quiet, "system")
    actor.receiveMessage(quiet, "system")
    assert [(to, type(msg)) for to, msg in sent] == [("ws", ProjectIdle)]
    create = CreateTask(request_id="c", project="demo", body=TaskCreate(prompt="p"), reply_to="web")
    actor.receiveMessage(create, "ws")  # routed before the workspace's answer
    sent.clear()
    actor.receiveMessage(ProjectIdleOk(), "ws")
    assert [(to, type(msg)) for to, msg in sent] == [("ws", ProjectBusy)]

    actor.receiveMessage(TaskActorReady(host=LEADER), "new-1")  # the replacement fork
    actor.tasks.clear()  # its task went back to the pool; pool_idle_s later
    kit.busy_until = 0.0
    sent.clear()
    actor.receiveMessage(quiet, "system")
    actor.receiveMessage(ProjectIdleOk(), "ws")
    assert [(to, type(msg)) for to, msg in sent] == [
        ("ws", ProjectIdle),
        ("ws", ProjectInUse),  # its task gone, not in use (told once the message is handled)
        ("project", ActorExitRequest),
    ]
    assert sent[1][1].in_use is False
    assert actor.registry
    actor.registry.conn.close()


def test_a_create_waits_for_the_clusters_first_hosts_to_know_where_to_place_the_task(tmp_path, monkeypatch):
    """A project is started on demand, often by the create itself: until the cluster's first Hosts it
    cannot know that a worker is up, and would place the task on the leader."""
    actor, sent, _ = started(tmp_path, monkeypatch)
    actor.cluster_addr = "cluster"
    create = CreateTask(request_id="c", project="demo", body=TaskCreate(prompt="p"), reply_to="web")
    actor.receiveMessage(create, "ws")
    assert [(to, type(msg)) for to, msg in sent] == [("ws", ProjectInUse)] and actor.early == [create]
    sent.clear()

    def start_kit(self: ProjectActor, kit: Kit, scan: list[str]) -> None:
        kit.pool = f"pool@{kit.host.name}"
        self.kits[kit.host.name] = kit

    monkeypatch.setattr(ProjectActor, "_start_kit", start_kit)
    monkeypatch.setattr(ProjectActor, "_host_state", lambda self, host, down_since: None)
    actor.receiveMessage(Hosts(hosts={"w1": Host(name="w1", data=tmp_path, capacity=2)}), "cluster")
    [(to, place)] = sent
    assert to == "cluster" and isinstance(place, Place) and actor.early is None
    assert actor.registry
    actor.registry.conn.close()


def test_a_smaller_share_takes_back_actors_at_rest_and_a_larger_one_activates_waiting_tasks(
    tmp_path, monkeypatch
):
    """The workspace shares its cap of live task actors anew as projects start and go. Over its new
    share, a project's tasks at rest give their actors back (tasks mid-step keep theirs); under it, the
    tasks waiting for a slot activate, oldest first."""
    actor, sent, settings = started(tmp_path, monkeypatch, max_live_tasks=3)
    actor.wakeupAfter = lambda delay, payload: None  # type: ignore[method-assign]
    kit = leader_kit(actor, settings, ready=[], forking=settings.pool_size)
    actor.tasks = {"t1": "actor-1", "t2": "actor-2", "t3": "actor-3"}
    actor.resting = {"t1": LEADER, "t2": LEADER}
    actor.queued = ["t4", "t5"]
    actor.in_use = True  # as the workspace heard when its tasks came

    actor.receiveMessage(LiveTasks(share=1), "ws")
    assert [(to, type(msg)) for to, msg in sent] == [("actor-1", PassivateOk), ("actor-2", PassivateOk)]
    assert list(actor.tasks) == ["t3"] and kit.ready == ["actor-1", "actor-2"]
    sent.clear()

    actor.receiveMessage(LiveTasks(share=2), "ws")
    assert [(to, type(msg), msg.task_id) for to, msg in sent] == [("actor-1", Activate, "t4")]
    assert actor.queued == ["t5"]
    assert actor.registry
    actor.registry.conn.close()
