"""The patches to thespian's hot spots (actors/thespian_tuning.py) keep its behaviour and drop the cost."""

import select
import selectors
import socket
from datetime import timedelta
from typing import Any

import pytest
from thespian.actors import Actor, ActorSystem
from thespian.system.timing import ExpirationTimer
from thespian.system.transport.TCPTransport import IdleSocket

from actors import thespian_tuning
from tests.server import free_port


def test_thespian_never_renders_a_message_to_name_it():
    """Its debug text costs a pydantic repr per send and receive; the type name is enough."""
    from thespian.system.transport import ReceiveEnvelope, TransmitIntent

    from actors import thespian_tuning

    rendered = []

    class Costly:
        def __str__(self) -> str:
            rendered.append(self)
            return "costly"

        __repr__ = __str__

    thespian_tuning.apply()
    assert "Costly" in TransmitIntent(None, Costly()).identify()
    assert "Costly" in ReceiveEnvelope(None, Costly()).identify()
    assert rendered == []


EPOLLS_MADE: list[int] = []  # in each actor process, forked with it


class Echo(Actor):
    def receiveMessage(self, msg: object, sender: object) -> None:
        self.send(sender, len(EPOLLS_MADE) if msg == "epolls" else msg)


def test_an_actor_serving_asks_makes_no_epoll_per_turn(monkeypatch):
    """Each turn of thespian's TCP loop built an epoll selector (system calls to create, register and
    close it); the poll selector it uses now makes none, and the replies are the same."""
    thespian_tuning.apply()
    monkeypatch.setattr(
        selectors.EpollSelector, "_selector_cls", lambda *_: EPOLLS_MADE.append(1) or select.epoll()
    )
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()}, transientUnique=True)
    try:
        echo = asys.createActor(Echo)
        assert [asys.ask(echo, n, timedelta(seconds=10)) for n in range(20)] == list(range(20))
        assert asys.ask(echo, "epolls", timedelta(seconds=10)) == 0
    finally:
        asys.shutdown()


def _answers(selector: Any, socks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for fd, events in socks:
        selector.register(fd, events)
    try:
        return sorted((key.fd, events) for key, events in selector.select(0))
    finally:
        selector.close()


def test_the_turn_selector_answers_as_the_poll_selector_does():
    """Readable, writable, a peer gone (hang-up) and a closed descriptor (POLLNVAL): the same events,
    masked by what was asked for; and the same errors for a descriptor given twice or a negative one."""
    quiet, talked_to = socket.socketpair()
    hung, gone = socket.socketpair()
    said, heard = socket.socketpair()
    closed = socket.socket()
    dead_fd = closed.fileno()
    closed.close()
    said.sendall(b"x")
    gone.close()
    both = selectors.EVENT_READ | selectors.EVENT_WRITE
    cases = [
        [(quiet.fileno(), selectors.EVENT_READ)],  # nothing to read
        [(quiet.fileno(), selectors.EVENT_WRITE)],
        [(heard.fileno(), selectors.EVENT_READ), (talked_to.fileno(), both)],
        [(hung.fileno(), selectors.EVENT_READ)],
        [(hung.fileno(), both)],
        [(dead_fd, selectors.EVENT_READ)],
    ]
    try:
        for case in cases:
            assert _answers(thespian_tuning._TurnSelector(), case) == _answers(selectors.PollSelector(), case)
        for selector_cls in (thespian_tuning._TurnSelector, selectors.PollSelector):
            selector = selector_cls()
            selector.register(quiet.fileno(), selectors.EVENT_READ)
            with pytest.raises(KeyError):
                selector.register(quiet.fileno(), selectors.EVENT_WRITE)
            with pytest.raises(ValueError):
                selector.register(-1, selectors.EVENT_READ)
    finally:
        for s in (quiet, talked_to, hung, said, heard):
            s.close()


def test_an_idle_socket_expires_when_its_timer_says_so():
    """Asked of every idle socket at every turn: the clock against its deadline, as the timer's view."""
    thespian_tuning.apply()
    idle = IdleSocket(None, None)
    for period in (timedelta(seconds=-1), timedelta(0), timedelta(minutes=20), None):
        idle.validity = ExpirationTimer(period)
        assert idle.expired() == idle.validity.view().expired()
