"""ProjectActor driven without an actor system: messages in, sends recorded."""

from typing import Any

import pytest

from actors import project as project_module
from actors.project import ProjectActor
from schemas.api import Project
from schemas.messages import Describe, Described
from schemas.project_messages import StartProject
from schemas.settings import Settings


class HarnessProject(ProjectActor):
    myAddress = "project"  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _no_actor_logs(monkeypatch):
    """StartProject configures file logging for an actor process; this process is pytest's."""
    monkeypatch.setattr(project_module.logs, "configure_actor", lambda *args: None)


def test_a_describe_that_arrives_before_start_project_is_answered_once_started(tmp_path, monkeypatch):
    """The workspace hands out a new project's address before the project has its StartProject; an
    admin Describe sent there at once is answered after the start, never with a failure."""
    monkeypatch.setattr(project_module.ProjectActor, "_start_kit", lambda self, kit, scan: None)
    sent: list[tuple[Any, Any]] = []
    actor = HarnessProject()
    actor.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]

    actor.receiveMessage(Describe(request_id="early"), "admin")
    assert sent == []

    project = Project(workspace="ws", name="demo", repo="/repo", created_at="2026-11-27T00:00:00Z")
    start = StartProject(project=project, settings=Settings(data_dir=tmp_path), workspace_addr="workspace")
    actor.receiveMessage(start, "workspace")

    [(to, reply)] = sent
    assert to == "admin" and isinstance(reply, Described) and reply.request_id == "early"
    assert [(a.kind, a.id) for a in reply.actors] == [("project", "demo")]
    actor.receiveMessage(Describe(request_id="later"), "admin")
    assert [msg.request_id for _, msg in sent] == ["early", "later"]
    assert actor.registry
    actor.registry.conn.close()
