"""WorkspaceActor driven without an actor system: messages in, sends recorded."""

from thespian.actors import ChildActorExited

from schemas.api import TaskCreate
from schemas.messages import ActorInfo, Describe, Described
from schemas.project_messages import (
    ActivateTasks,
    LiveTasks,
    ProjectBusy,
    ProjectIdle,
    ProjectIdleOk,
    ProjectInUse,
    StartProject,
)
from schemas.workspace_messages import (
    CreateTask,
    ProjectRegistered,
    ResumeDispatched,
    ResumeTasks,
    WorkspaceStarted,
)
from tests.helpers.workspace import registered


def test_a_describe_asks_each_project_after_its_start_and_answers_once_all_have(tmp_path, monkeypatch):
    """/metrics and the admin script ask the workspace alone. It asks each project on the pair that
    carried its StartProject (so never before the start: thespian keeps one pair's order) and answers
    once every project has answered, or exited."""
    actor, sent = registered(tmp_path, monkeypatch, ["a", "b"], ["project-a", "project-b", "project-b2"])
    for name in ("a", "b"):
        actor._start_project(actor.projects[name])
    sent.clear()

    actor.receiveMessage(Describe(request_id="d1"), "admin")
    assert [(to, type(msg)) for to, msg in sent] == [("project-a", Describe), ("project-b", Describe)]
    task = ActorInfo(kind="task", id="t", address="t", since="")
    actor.receiveMessage(Described(request_id="d1", actors=[task]), "project-a")
    assert [to for to, _ in sent] == ["project-a", "project-b"]  # b has not answered yet

    actor.receiveMessage(ChildActorExited("project-b"), "system")  # b crashed: restarted, not waited for
    assert [(to, type(msg)) for to, msg in sent[2:]] == [("admin", Described), ("project-b2", StartProject)]
    reply = sent[2][1]
    assert reply.request_id == "d1"
    assert [(a.kind, a.id) for a in reply.actors] == [("workspace", "ws"), ("task", "t")]
    assert actor.describing == {}
    assert actor.conn
    actor.conn.close()


def test_a_projects_messages_are_held_while_it_may_exit_then_go_to_a_fresh_actor_or_to_it(
    tmp_path, monkeypatch
):
    """A registered project has no actor until something is routed to it. One that offers to go
    (ProjectIdle) gets its answer after everything routed to it before; what comes after is held, and
    goes to a fresh actor once it has exited, or to it if it says it is busy after all."""
    actor, sent = registered(tmp_path, monkeypatch, ["demo"], ["project-1", "project-2"])
    assert [type(msg) for _, msg in sent] == [WorkspaceStarted, ProjectRegistered]  # no actor yet
    sent.clear()

    def create(key: str) -> CreateTask:
        return CreateTask(request_id=key, project="demo", body=TaskCreate(prompt="p"), reply_to="web")

    actor.receiveMessage(create("c1"), "bridge")
    assert [(to, type(msg)) for to, msg in sent] == [("project-1", StartProject), ("project-1", CreateTask)]
    sent.clear()
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")
    actor.receiveMessage(create("c2"), "bridge")
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")  # asked again: one answer is enough
    assert [(to, type(msg)) for to, msg in sent] == [("project-1", ProjectIdleOk)]  # c2 held

    actor.receiveMessage(ProjectBusy(project="demo"), "project-1")  # busy after all: c2 goes to it
    assert [(to, type(msg)) for to, msg in sent[1:]] == [("project-1", CreateTask), ("project-1", LiveTasks)]
    assert sent[1][1].request_id == "c2"
    sent.clear()
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")
    actor.receiveMessage(create("c3"), "bridge")
    actor.receiveMessage(ChildActorExited("project-1"), "system")  # it went: c3 starts a fresh one
    assert [(to, type(msg)) for to, msg in sent] == [
        ("project-1", ProjectIdleOk),
        ("project-2", StartProject),
        ("project-2", CreateTask),
    ]
    assert sent[2][1].request_id == "c3" and actor.held == {}
    assert actor.conn
    actor.conn.close()


def test_the_projects_in_use_share_the_cap_and_one_not_in_use_holds_its_share_to_be(tmp_path, monkeypatch):
    """Task actors follow the cap, not the projects: those using task actors share it equally, so a busy
    project beside idle ones gets their part. A project starts not in use, holding the share it will have
    once in use (its first create need not wait for it); the others hear their smaller shares once it is.
    A crashed project is restarted at once; one that may be exiting is not told, nor started again."""
    addresses = ["project-a", "project-b", "project-c", "project-b2"]
    actor, sent = registered(tmp_path, monkeypatch, ["a", "b", "c"], addresses, max_live_tasks=8)
    sent.clear()

    def shares() -> list[tuple[str, int]]:
        told = [(to, msg.live_tasks if isinstance(msg, StartProject) else msg.share) for to, msg in sent]
        sent.clear()
        return sorted(told)

    def in_use(name: str, used: bool, addr: str = "") -> None:
        actor.receiveMessage(ProjectInUse(project=name, in_use=used), addr or f"project-{name}")

    def create(name: str) -> None:
        actor.receiveMessage(CreateTask(request_id=name, project=name, body=TaskCreate(prompt="p")), "web")
        sent[:] = [(to, msg) for to, msg in sent if not isinstance(msg, CreateTask)]

    create("a")
    assert shares() == [("project-a", 8)]
    in_use("a", True)
    create("b")
    assert shares() == [("project-b", 4)]  # a keeps 8 until b is in use
    in_use("b", True)
    assert shares() == [("project-a", 4)]
    create("c")
    in_use("c", True)
    assert shares() == [("project-a", 2), ("project-b", 2), ("project-c", 2)]  # 8 // 3

    in_use("b", False)  # its tasks went back to the pool: a and c get its part
    assert shares() == [("project-a", 4), ("project-c", 4)]  # b holds 8 // 3
    actor.receiveMessage(ChildActorExited("project-b"), "system")  # crashed: restarted, not in use
    assert shares() == [("project-b2", 2)]
    in_use("a", False)
    assert shares() == [("project-b2", 4), ("project-c", 8)]  # a keeps 4: once in use, 8 // 2
    actor.receiveMessage(ProjectIdle(project="a"), "project-a")
    sent.clear()
    in_use("b", True, "project-b2")
    assert shares() == [("project-c", 4)]  # not a, which may be exiting ...
    actor.receiveMessage(ChildActorExited("project-a"), "system")
    assert shares() == [] and "a" not in actor.project_addrs  # ... and is not started again for it
    in_use("b", False, "project-b")  # from b's old actor: not heard
    assert shares() == []
    assert actor.conn
    actor.conn.close()


def test_a_resume_starts_every_project_before_any_activates_its_tasks(tmp_path, monkeypatch):
    """A project started alone by the resume would take the whole cap and activate that many tasks,
    before the next project's start halved its share: each is started, counted in use and told its
    share before any activates."""
    actor, sent = registered(tmp_path, monkeypatch, ["a", "b"], ["project-a", "project-b"], max_live_tasks=8)
    sent.clear()

    actor.receiveMessage(ResumeTasks(request_id="r", tasks={"t1": "a", "t2": "b", "t3": "gone"}), "web")
    assert [(to, type(msg)) for to, msg in sent] == [
        ("project-a", StartProject),
        ("project-b", StartProject),
        ("project-a", LiveTasks),
        ("project-a", ActivateTasks),
        ("project-b", ActivateTasks),
        ("web", ResumeDispatched),
    ]
    assert (sent[1][1].live_tasks, sent[2][1].share) == (4, 4)  # both in use before either activates
    assert sent[-1][1].count == 2
    assert actor.conn
    actor.conn.close()
