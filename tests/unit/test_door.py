"""A runner's door (actors/runtime/door.py) and the web's end of it (backend/door.py): asks go in as
(actor key, message, who asked), answers come back to the ask that waits for them, and an ask to a
runner that goes fails at once."""

import asyncio
import threading
from pathlib import Path

import pytest

from actors.runtime.door import FULL, Door, DoorAddress, door_path
from actors.runtime.refs import Envelope, Ref
from backend.bridge import BridgeError
from backend.door import Doors
from schemas.messages import Reply, Request


class Ask(Request):
    pass


class Told(Reply):
    pass


async def opened(tmp_path: Path) -> tuple[Door, Doors, threading.Event]:
    woken = threading.Event()
    door = Door(tmp_path / "runner-0.sock", "runner-address", "leader/0", woken.set)
    await door.open()
    doors = Doors()
    doors.paths["leader/0"] = door.path
    return door, doors, woken


async def arrived(door: Door, woken: threading.Event) -> list[tuple[str, object, DoorAddress]]:
    """The web's asks that came in, as (actor key, message, who asked): each an Envelope in the request
    lane."""
    while not woken.is_set():
        await asyncio.sleep(0.01)
    woken.clear()
    asks = door.take()
    assert all(isinstance(a, Envelope) and a.request and isinstance(a.sender, DoorAddress) for a in asks)
    return [(a.to.key, a.msg, a.sender) for a in asks if isinstance(a, Envelope)]


async def test_an_ask_reaches_its_actor_and_the_answer_comes_back_to_it(tmp_path: Path) -> None:
    door, doors, woken = await opened(tmp_path)
    ref = Ref("runner-address", "leader/0", "workspace-default")
    ask = Ask(request_id="r1")
    asking = asyncio.create_task(doors.ask(ref, ask, timeout=5))
    ((key, msg, asker),) = await arrived(door, woken)
    assert (key, msg) == ("workspace-default", ask)
    assert asker.runner_name == "leader/0" and asker.runner == "runner-address"
    door.answer(asker, Told(request_id="other"))  # not this ask's: ignored
    told = Told(request_id="r1")
    door.answer(asker, told)
    assert await asking == told
    await doors.close()
    await door.close()
    assert not door.path.exists()


async def test_an_ask_to_a_runner_that_goes_fails_at_once(tmp_path: Path) -> None:
    door, doors, woken = await opened(tmp_path)
    asking = asyncio.create_task(doors.ask(Ref("a", "leader/0", "k"), Ask(request_id="r1"), timeout=60))
    await arrived(door, woken)
    await door.close()
    with pytest.raises(BridgeError):
        await asyncio.wait_for(asking, 5)
    with pytest.raises(BridgeError):  # and the next one cannot connect
        await doors.ask(Ref("a", "leader/0", "k"), Ask(request_id="r2"), timeout=60)


async def test_an_unanswered_ask_times_out(tmp_path: Path) -> None:
    door, doors, _ = await opened(tmp_path)
    with pytest.raises(BridgeError, match="no answer"):
        await doors.ask(Ref("a", "leader/0", "k"), Ask(request_id="r1"), timeout=0.2)
    await doors.close()
    await door.close()


def test_only_actors_of_a_runner_with_a_door_are_asked_through_it(tmp_path: Path) -> None:
    doors = Doors()
    doors.paths["leader/0"] = tmp_path / "runner-0.sock"
    assert doors.serves(Ref("a", "leader/0", "k"))
    assert not doors.serves(Ref("a", "w1/leader/0", "k")) and not doors.serves("a thespian address")


def test_a_data_directory_too_deep_for_a_unix_socket_has_no_door(tmp_path: Path) -> None:
    assert door_path(tmp_path, 0) == tmp_path / "runner-0.sock"
    assert door_path(tmp_path / ("d" * 120), 0) is None


async def test_a_runner_with_a_full_mailbox_reads_no_ask_until_it_is_down_to_half(tmp_path: Path) -> None:
    """Its mailbox is bounded by pushing back on the web: the asks wait in the socket, not in memory."""
    door, doors, woken = await opened(tmp_path)
    door.pace(FULL)
    ask = Ask(request_id="r1")
    asking = asyncio.create_task(doors.ask(Ref("a", "leader/0", "k"), ask, timeout=5))
    await asyncio.sleep(0.2)
    assert not woken.is_set() and door.take() == []
    door.pace(FULL // 2 + 1)  # still more than half: still full
    await asyncio.sleep(0.2)
    assert not woken.is_set()
    door.pace(FULL // 2)
    ((_, msg, asker),) = await arrived(door, woken)
    assert msg == ask
    told = Told(request_id="r1")
    door.answer(asker, told)
    assert await asking == told
    await doors.close()
    await door.close()
