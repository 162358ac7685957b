"""Drive a Runner without thespian: its own thespian side and a probe actor that records what it gets."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from thespian.actors import Actor, ActorAddress, ActorExitRequest

from actors.runtime.refs import Ref
from actors.runtime.runner import Runner
from schemas.runner_messages import Peer, RunnerStart, Spawn
from schemas.settings import Settings

HERE, THERE, WEB = ActorAddress("here"), ActorAddress("there"), ActorAddress("web")


@dataclass
class Do:
    """Tells a Probe what to do with its thespian API: `fn(actor)`."""

    fn: Any


class Probe(Actor):  # type: ignore[misc]
    """Records what it receives; runs any Do it is sent."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, Any]] = []
        self.children: list[Ref] = []

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        self.got.append((msg, sender))
        if isinstance(msg, Do):
            msg.fn(self)


@dataclass
class RunnerCell:
    """The runner's own thespian side: what it sends and the wakeups it arms."""

    sent: list[tuple[Any, Any]] = field(default_factory=list)
    wakeups: list[tuple[timedelta, Any]] = field(default_factory=list)
    address: Any = field(default_factory=lambda: HERE)
    globalName: Any = None

    def actor_send(self, target: Any, msg: Any) -> None:
        self.sent.append((target, msg))

    def wakeupAfter(self, period: timedelta, payload: Any) -> None:
        self.wakeups.append((period, payload))

    def createActor(self, cls: type, requirements: Any, *_: Any) -> Any:
        return ActorAddress(f"made-on-{requirements['crucible.host']}")

    def notifyOnSystemRegistrationChanges(self, address: Any, start: bool) -> None: ...


def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, peers: list[Peer]) -> Iterator[Runner]:
    """Runner `leader/0`, started (with these peers), exited after the test."""
    monkeypatch.setattr("actors.runtime.runner.logs.configure_actor", lambda s: None)
    made = Runner()
    made._myRef = RunnerCell()
    settings = Settings(data_dir=tmp_path)
    made.receiveMessage(
        RunnerStart(request_id="r", name="leader/0", host="leader", settings=settings, peers=peers), WEB
    )
    yield made
    made.receiveMessage(ActorExitRequest(), WEB)


def host(runner: Runner, key: str) -> Probe:
    runner.receiveMessage(Spawn(request_id="s", cls=Probe, key=key), WEB)
    actor = runner.hosted[key].actor
    assert isinstance(actor, Probe)
    return actor


def ref(key: str, runner_name: str = "leader/0", addr: Any = HERE) -> Ref:
    return Ref(addr, runner_name, key)
