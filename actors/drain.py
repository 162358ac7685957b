"""Drain fan-in for actors with children (workspace → projects → tasks): a Drain passes down, and is
answered up once every child it went to has answered or exited. Tasks answer between steps."""

from typing import Any

from schemas.messages import Drain, Drained


class DrainFanIn:
    def __init__(self) -> None:
        self.reply_to: Any = None
        self.request_id = ""
        self.waiting: list[Any] = []  # children's addresses (compared with ==: not hashable, and a new
        # child's address prints differently from the same address as a sender)

    def start(self, msg: Drain, reply_to: Any, children: list[Any]) -> list[Any]:
        """Returns the children to pass the drain to."""
        self.reply_to, self.request_id = reply_to, msg.request_id
        self.waiting = list(children)
        return children

    def answered(self, child: Any) -> tuple[Any, Drained] | None:
        """A child answered or exited (None: just check). When none is left: (reply_to, Drained), once."""
        self.waiting = [addr for addr in self.waiting if addr != child]
        if self.waiting or self.reply_to is None:
            return None
        reply_to, self.reply_to = self.reply_to, None
        return reply_to, Drained(request_id=self.request_id)
