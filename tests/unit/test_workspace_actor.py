"""WorkspaceActor driven without an actor system: messages in, sends recorded."""

from typing import Any

from thespian.actors import ChildActorExited

from schemas.api import TaskCreate
from schemas.messages import ActorInfo, Describe, Described
from schemas.project_messages import (
    ActivateTasks,
    ProjectBusy,
    ProjectIdle,
    ProjectIdleOk,
    StartProject,
)
from schemas.workspace_messages import (
    CreateTask,
    ProjectRegistered,
    ResumeDispatched,
    ResumeTasks,
    WorkspaceStarted,
)
from tests.helpers.addresses import Named
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
    task = ActorInfo(kind="task", id="t", key="task-0", runner="leader/0", address="t", since="")
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
        return CreateTask(request_id=key, project="demo", body=TaskCreate(prompt="p"), reply_to=Named("web"))

    actor.receiveMessage(create("c1"), "bridge")
    assert [(to, type(msg)) for to, msg in sent] == [("project-1", StartProject), ("project-1", CreateTask)]
    sent.clear()
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")
    actor.receiveMessage(create("c2"), "bridge")
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")  # asked again: one answer is enough
    assert [(to, type(msg)) for to, msg in sent] == [("project-1", ProjectIdleOk)]  # c2 held

    actor.receiveMessage(ProjectBusy(project="demo"), "project-1")  # busy after all: c2 goes to it
    assert [(to, type(msg)) for to, msg in sent[1:]] == [("project-1", CreateTask)]
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


def test_a_resume_starts_each_project_with_its_tasks_and_skips_an_unknown_projects(tmp_path, monkeypatch):
    """Each project is started and handed its tasks in creation order; a task of a project no longer
    registered is left alone, and the answer counts the tasks handed over."""
    actor, sent = registered(tmp_path, monkeypatch, ["a", "b"], ["project-a", "project-b"])
    sent.clear()

    tasks = {"t2": "a", "t1": "a", "t3": "b", "t4": "gone"}
    actor.receiveMessage(ResumeTasks(request_id="r", tasks=tasks), "web")
    assert [(to, type(msg)) for to, msg in sent] == [
        ("project-a", StartProject),
        ("project-a", ActivateTasks),
        ("project-b", StartProject),
        ("project-b", ActivateTasks),
        ("web", ResumeDispatched),
    ]
    assert [sent[1][1].task_ids, sent[3][1].task_ids] == [["t1", "t2"], ["t3"]]
    assert sent[-1][1].count == 3
    assert actor.conn
    actor.conn.close()


def test_a_workspace_with_no_project_live_sleeps_once_idle_for_its_timeout(tmp_path, monkeypatch):
    """Its next message makes it again from the start message it leaves (actors/runtime/runner.py); it
    never sleeps with a project actor live, nor before its idle timeout has passed since its last
    message."""
    from datetime import timedelta

    from thespian.actors import WakeupMessage

    from actors.workspace.actor import Sleepy

    actor, _ = registered(tmp_path, monkeypatch, ["demo"], ["project-1"], idle_timeout_s=60)
    slept: list[Any] = []
    actor._myRef = type("Cell", (), {"sleep": lambda self, start: slept.append(start)})()
    wake = WakeupMessage(timedelta(seconds=60), payload=Sleepy())
    actor.receiveMessage(wake, "system")
    assert slept == []  # registered just now
    actor.idle.busy_at -= 60
    actor.receiveMessage(CreateTask(request_id="c", project="demo", body=TaskCreate(prompt="p")), "web")
    actor.idle.busy_at -= 60
    actor.receiveMessage(wake, "system")
    assert slept == []  # its project is live
    actor.receiveMessage(ProjectIdle(project="demo"), "project-1")
    actor.receiveMessage(ChildActorExited("project-1"), "system")
    actor.idle.busy_at -= 60
    armed: list[Any] = []
    actor.wakeupAfter = lambda delay, payload=None: armed.append(payload)  # type: ignore[method-assign]
    actor.receiveMessage(wake, "system")
    assert [(s.name, s.request_id) for s in slept] == [("ws", "s")]
    assert armed == []  # a timer left behind would make it again at once
    assert actor.conn
    actor.conn.close()
