"""A runner's peers, the other runners of its machine (actors/runtime/peers.py): task actors spread over
them, and what goes to their actors travels on a line to their door, in order, not over thespian."""

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from actors.runtime.door import Answer, Door, DoorAddress
from actors.runtime.peers import PeerLink
from actors.runtime.refs import Batch, Envelope, Ref
from actors.runtime.runner import Runner
from backend.door import Doors
from schemas.messages import Reply, Request
from schemas.runner_messages import Peer, Spawn
from tests.helpers.runner import THERE, WEB, Do, Probe, host, ref, started


class Spreads(Probe):
    SPREADS = True


class Line:
    """A line to a peer that records what goes on it."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, obj: Any) -> None:
        self.sent.append(obj)

    def close(self) -> None: ...


def line(runner: Runner) -> list[Any]:
    """What went on the line to leader/1."""
    recorded = runner.peers.lines["leader/1"]
    assert isinstance(recorded, Line)
    return recorded.sent


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """leader/0, with leader/1 as its peer."""
    peer = Peer(name="leader/1", address=THERE, door=tmp_path / "runner-1.sock")
    for made in started(tmp_path, monkeypatch, peers=[peer]):
        assert made.peers
        made.peers.lines["leader/1"] = Line()  # type: ignore[assignment]
        yield made


def test_children_that_spread_go_to_the_machines_runners_in_turn_each_made_there_first(runner):
    host(runner, "p")
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: [me.createActor(Spreads) for _ in range(4)])), WEB)
    children = list(runner.hosted["p"].children)
    assert [c.runner_name for c in children] == ["leader/0", "leader/1", "leader/0", "leader/1"]
    assert [c.key in runner.hosted for c in children] == [True, False, True, False]
    spawns = line(runner)
    assert [(s.key, s.cls, s.parent) for s in spawns] == [(c.key, Spreads, ref("p")) for c in children[1::2]]
    assert all(isinstance(s, Spawn) for s in spawns) and len(runner._myRef.sent) == sent_before  # no thespian


def test_a_child_that_does_not_spread_stays_beside_its_parent(runner):
    host(runner, "p")
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: [me.createActor(Probe) for _ in range(2)])), WEB)
    assert [c.runner_name for c in runner.hosted["p"].children] == ["leader/0"] * 2
    assert line(runner) == []


def test_what_a_turn_has_for_a_peers_actors_goes_on_its_line_not_over_thespian(runner):
    host(runner, "a")
    far = ref("b", "leader/1", THERE)
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(Envelope(ref("a"), Do(lambda me: [me.send(far, n) for n in range(2)])), WEB)
    assert line(runner) == [Batch([Envelope(far, 0, ref("a")), Envelope(far, 1, ref("a"))])]
    assert len(runner._myRef.sent) == sent_before


def test_an_answer_for_an_ask_made_at_a_peers_door_goes_on_its_line(runner):
    host(runner, "a")
    asker = DoorAddress(THERE, "leader/1", 3)
    runner.receiveMessage(Envelope(ref("a"), Do(lambda me: me.send(asker, "answer"))), WEB)
    assert line(runner) == [Answer(asker, "answer")]


class Ask(Request):
    pass


class Told(Reply):
    pass


async def test_a_line_carries_posts_in_order_made_before_the_door_opened_and_answers_to_the_web(
    tmp_path: Path,
) -> None:
    """Frames sent before the peer's door opens wait, then arrive whole and in the order sent; an answer
    for an ask made at that door is written out to the web at once."""
    woken = threading.Event()
    path = tmp_path / "runner-1.sock"
    link = PeerLink(path, asyncio.get_running_loop())
    here, there = Ref("a", "leader/0", "a"), Ref("b", "leader/1", "b")
    posts = [
        Spawn(request_id="", cls=Probe, key="b", parent=here),
        Envelope(there, 1, here),
        Batch([Envelope(there, 2, here), Envelope(there, 3, here, request=True)]),
    ]
    for post in posts:
        link.send(post)
    await asyncio.sleep(0.2)
    door = Door(path, "runner-1", "leader/1", woken.set)
    await door.open()
    while len(door.arrived) < len(posts):
        await asyncio.sleep(0.01)
    assert door.take() == posts

    doors = Doors()
    doors.paths["leader/1"] = path
    ask = asyncio.create_task(doors.ask(Ref("x", "leader/1", "w"), Ask(request_id="r1"), timeout=5))
    while not door.arrived:
        await asyncio.sleep(0.01)
    (arrival,) = door.take()
    assert isinstance(arrival, Envelope) and isinstance(arrival.sender, DoorAddress)
    told = Told(request_id="r1")
    link.send(Answer(arrival.sender, told))  # a peer's actor answered it
    assert await ask == told
    link.close()
    await doors.close()
    await door.close()
