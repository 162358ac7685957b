"""Drive a WorkspaceActor without an actor system: messages in, sends recorded."""

from pathlib import Path
from typing import Any

import pytest

from actors.workspace import actor as workspace_module
from actors.workspace.actor import WorkspaceActor
from schemas.settings import Settings
from schemas.workspace_messages import RegisterProject, StartWorkspace
from tests.helpers.addresses import Named


class HarnessWorkspace(WorkspaceActor):
    myAddress = Named("workspace")


def registered(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    projects: list[str],
    addresses: list[str],
    **settings: Any,
) -> tuple[HarnessWorkspace, list[tuple[Any, Any]]]:
    """A started workspace with these projects registered (no actor yet); what it sends is recorded,
    and the project actors it creates get these addresses, in order."""
    monkeypatch.setattr(workspace_module.logs, "configure_actor", lambda *args: None)
    sent: list[tuple[Any, Any]] = []
    created = iter(map(Named, addresses))
    actor = HarnessWorkspace()
    actor.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]
    actor.createActor = lambda cls: next(created)  # type: ignore[method-assign]
    actor.wakeupAfter = lambda delay, payload=None: None  # type: ignore[method-assign]
    start = StartWorkspace(request_id="s", name="ws", settings=Settings(data_dir=tmp_path, **settings))
    actor.receiveMessage(start, Named("web"))
    for name in projects:
        actor.receiveMessage(RegisterProject(request_id=f"r-{name}", name=name, repo="/r"), Named("web"))
    return actor, sent
