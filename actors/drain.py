"""Drain fan-in for actors with children (workspace → projects → tasks): a Drain passes down, and is
answered up once every child it went to has answered or exited. Tasks answer between steps."""

from typing import Any

from thespian.actors import ActorTypeDispatcher

from schemas.messages import Drain, Drained


class DrainingParent(ActorTypeDispatcher):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.drain_reply_to: Any = None
        self.drain_request_id = ""
        # Children's addresses, compared with ==: they are not hashable, and a new child's address
        # prints differently from the same address as a sender.
        self.drain_waiting: list[Any] = []

    def drain_children(self) -> list[Any]:
        raise NotImplementedError

    def receiveMsg_Drain(self, msg: Drain, sender: Any) -> None:
        self.drain_reply_to, self.drain_request_id = msg.reply_to or sender, msg.request_id
        self.drain_waiting = self.drain_children()
        for child in self.drain_waiting:
            self.send(child, Drain(request_id=msg.request_id))
        self.drain_answered(None)

    def receiveMsg_Drained(self, msg: Drained, sender: Any) -> None:
        self.drain_answered(sender)

    def drain_answered(self, child: Any) -> None:
        """A child answered or exited (None: just check); with none left, answer up, once."""
        self.drain_waiting = [addr for addr in self.drain_waiting if addr != child]
        if not self.drain_waiting and self.drain_reply_to is not None:
            self.send(self.drain_reply_to, Drained(request_id=self.drain_request_id))
            self.drain_reply_to = None
