"""Hot spots of thespian 4.0.1, found with cProfile; bench/transport.py measures a message's
cost with and without these patches. Imported with actors/system.py, before the first ActorSystem(), so
every forked actor inherits them.

- It builds its DEBUG text eagerly, whether DEBUG logging is on or off: every send calls
  TransmitIntent.identify() twice and every receive calls ReceiveEnvelope.identify() once, and each
  renders str(message) — a pydantic repr, about 45% of a send's CPU. We name the message's type instead.
- Each turn of the TCP transport's loop builds a new selector for every socket it holds (~5 turns per
  message). The default, epoll, takes a system call to create, one per socket registered and one to
  close. `selectors.PollSelector` made none, but its bookkeeping per socket (a key object, a map, a
  check of the file object) was still most of a turn's cost in an actor that talks to many others (the
  workspace holds ~30 sockets: one per bridge thread, project, ...). `_TurnSelector` does only what
  thespian asks of it on one poll object: CPU per ping-pong round trip with 60 sockets held 4.66 →
  3.49 ms, with none 1.91 → 1.79 ms.
- Each turn also asks each idle socket whether it has expired through a timer view (an object per
  call); comparing the clock with its deadline is the same answer: with 60 sockets, 3.59 → 3.20 ms.
"""

import math
import select
import selectors
import types
from typing import Any

from thespian.system import transport
from thespian.system.timing import currentTime
from thespian.system.transport import TCPTransport

EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def _intent(self: Any) -> str:
    return f"TransmitIntent({type(self.message).__name__} to {self.targetAddr})"


def _envelope(self: Any) -> str:
    return f"ReceiveEnvelope({type(self.message).__name__} from {self.sender})"


class _Key:
    """What thespian reads of a selector key: its file descriptor."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd


class _TurnSelector:
    """One turn's selector: `selectors.PollSelector`'s answers (its errors, its event mapping, its
    timeout rounded up to the millisecond) for the three calls thespian makes."""

    __slots__ = ("_events", "_poll")

    def __init__(self) -> None:
        self._poll = select.poll()
        self._events: dict[int, int] = {}

    def register(self, fd: int, events: int) -> None:
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        if fd in self._events:
            raise KeyError(f"{fd!r} (FD {fd}) is already registered")
        self._events[fd] = events
        mask = (select.POLLIN if events & EVENT_READ else 0) | (select.POLLOUT if events & EVENT_WRITE else 0)
        self._poll.register(fd, mask)

    def select(self, timeout: float | None = None) -> list[tuple[_Key, int]]:
        wait = None if timeout is None else (0 if timeout <= 0 else math.ceil(timeout * 1e3))
        ready = []
        for fd, event in self._poll.poll(wait):
            seen = EVENT_WRITE if event & ~select.POLLIN else 0
            seen |= EVENT_READ if event & ~select.POLLOUT else 0
            ready.append((_Key(fd), seen & self._events[fd]))
        return ready

    def close(self) -> None:
        self._events.clear()


def _idle_expired(self: Any) -> bool:
    quit_at = self.validity._time_to_quit
    return quit_at is not None and currentTime() >= quit_at


def apply() -> None:
    transport.TransmitIntent.identify = _intent
    transport.ReceiveEnvelope.identify = _envelope
    TCPTransport.selectors = types.SimpleNamespace(
        DefaultSelector=_TurnSelector, EVENT_READ=EVENT_READ, EVENT_WRITE=EVENT_WRITE
    )
    TCPTransport.IdleSocket.expired = _idle_expired


apply()
