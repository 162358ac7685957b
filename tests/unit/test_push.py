"""Pushes to the hub (actors/push.py): sent at once outside a runner's turn; within one, held and sent
together, at the turn's end or once the oldest has waited HOLD_S."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import push
from actors.push import Pusher
from schemas.task_messages import TaskEvents


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Pusher, socket.socket]]:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(tmp_path / "hub.sock"))
    listening.listen()
    pusher = Pusher(tmp_path / "hub.sock")
    Pusher._shared[tmp_path / "hub.sock"] = pusher
    pusher.push(news(0))  # connects
    received, _ = listening.accept()
    received.settimeout(0.2)
    assert lines(received) == 1
    yield pusher, received
    Pusher._shared.pop(tmp_path / "hub.sock")
    pusher.close()
    received.close()
    listening.close()


def news(seq: int) -> TaskEvents:
    return TaskEvents(task_id="t", events=[{"seq": seq}])


def lines(received: socket.socket) -> int:
    data = b""
    try:
        while chunk := received.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data.count(b"\n")


def test_a_push_outside_a_turn_goes_at_once(hub: tuple[Pusher, socket.socket]) -> None:
    pusher, received = hub
    pusher.push(news(1))
    assert lines(received) == 1


def test_pushes_within_a_turn_wait_for_its_end_and_go_together(hub: tuple[Pusher, socket.socket]) -> None:
    pusher, received = hub
    with Pusher.holding():
        pusher.push(news(1))
        pusher.push(news(2))
        Pusher.flush_due()  # not waited long enough
        assert lines(received) == 0
    assert lines(received) == 2


def test_a_push_held_for_long_goes_between_two_messages(hub: tuple[Pusher, socket.socket]) -> None:
    pusher, received = hub
    with Pusher.holding():
        pusher.push(news(1))
        time.sleep(push.HOLD_S)
        Pusher.flush_due()
        assert lines(received) == 1
