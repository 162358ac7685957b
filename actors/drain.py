"""Fan-in for actors with children (workspace → projects → tasks): a request passes down, and is answered
up once every child it went to has answered or exited. Drain uses it (tasks answer between steps), and
so does the workspace's Describe."""

from dataclasses import dataclass

from actors.guard import GuardedActor
from schemas.messages import Address, Drain, Drained


@dataclass
class FanIn:
    reply_to: Address
    request_id: str
    # Children's addresses, compared with ==: they are not hashable, and a new child's address prints
    # differently from the same address as a sender.
    waiting: list[Address]

    def answered(self, child: Address | None) -> bool:
        """A child answered or exited (None: just check); True once none is left."""
        self.waiting = [addr for addr in self.waiting if addr != child]
        return not self.waiting


class DrainingParent(GuardedActor):
    def __init__(self) -> None:
        super().__init__()
        self.drain: FanIn | None = None  # a Drain passed down, not yet answered

    def drain_children(self) -> list[Address]:
        raise NotImplementedError

    def receiveMsg_Drain(self, msg: Drain, sender: Address) -> None:
        self.drain = FanIn(msg.reply_to or sender, msg.request_id, self.drain_children())
        for child in self.drain.waiting:
            self.send(child, Drain(request_id=msg.request_id))
        self.drain_answered(None)

    def receiveMsg_Drained(self, msg: Drained, sender: Address) -> None:
        self.drain_answered(sender)

    def drain_answered(self, child: Address) -> None:
        """A child answered or exited (None: just check); with none left, and none on its way
        (drain_settled), answer up, once."""
        if self.drain is not None and self.drain.answered(child) and self.drain_settled():
            self.send(self.drain.reply_to, Drained(request_id=self.drain.request_id))
            self.drain = None

    def drain_settled(self) -> bool:
        """Whether no child is being started: a parent that starts children overrides it."""
        return True
