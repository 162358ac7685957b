"""thespian 4.0.1 builds its DEBUG text eagerly, whether DEBUG logging is on or off: every send calls
TransmitIntent.identify() twice and every receive calls ReceiveEnvelope.identify() once, and each renders
str(message) — a pydantic repr, about 45% of a send's CPU (measured with cProfile and perf, issue #8).
We name the message's type instead. Imported with actors/system.py, before the first ActorSystem(), so
every forked actor inherits it.
"""

from typing import Any

from thespian.system import transport


def _intent(self: Any) -> str:
    return f"TransmitIntent({type(self.message).__name__} to {self.targetAddr})"


def _envelope(self: Any) -> str:
    return f"ReceiveEnvelope({type(self.message).__name__} from {self.sender})"


def apply() -> None:
    transport.TransmitIntent.identify = _intent
    transport.ReceiveEnvelope.identify = _envelope


apply()
