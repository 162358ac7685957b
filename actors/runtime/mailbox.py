"""A runner's mailbox: one queue for all its actors, and a lane ahead of it for the web's requests.

Messages wait their turn in one FIFO. A step's outcome costs its runner about a millisecond, and when
many tasks' steps end together a create from the web would wait behind all of them (20 ms and more at
one client, measured). So the web's asks (through the runner's door) go in a lane served first, and so
does what their handling sends on. A sender's messages to one actor are all in one lane at any time, so
they are handled in the order sent: the order the actor model promises, per sender and receiver, holds
(actors on other runners and hosts never had more). The other lane is not starved: while both hold
messages, every REQUESTS_PER_OTHER-th message comes from it.
"""

from collections import Counter, deque
from typing import Any

from actors.runtime.refs import Ref
from schemas.messages import Address

Item = tuple[str, Any, Address, float]  # (actor key, message, sender, when it was put)
Pair = tuple[str, str]  # (sender key, actor key)

REQUESTS_PER_OTHER = 8  # a create is six messages: provisioning keeps moving under a stream of them


class Lane:
    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        self.pairs: Counter[Pair] = Counter()  # messages of each pair in this lane

    def put(self, item: Item, pair: Pair | None) -> None:
        self.items.append(item)
        if pair is not None:
            self.pairs[pair] += 1

    def take(self) -> Item:
        item = self.items.popleft()
        if (pair := pair_of(item)) is not None:
            self.pairs[pair] -= 1
            if not self.pairs[pair]:
                del self.pairs[pair]
        return item


def pair_of(item: Item) -> Pair | None:
    """Only hosted actors' sends need keeping in order across lanes: the web's asks are all requests,
    and the runner's own messages (timers, outcomes) are never."""
    key, _, sender, _ = item
    return (sender.key, key) if isinstance(sender, Ref) else None


class Mailbox:
    def __init__(self) -> None:
        self._requests, self._others = Lane(), Lane()
        self._in_request = False  # the message in hand came from the request lane
        self._streak = 0  # requests served in a row while others waited

    def put(self, item: Item, request: bool = False) -> None:
        """`request`: an ask from the web. What an actor sends while it handles one is a request too,
        unless a message from it to the same actor waits among the others."""
        pair = pair_of(item)
        if pair is not None and pair in self._others.pairs:
            self._others.put(item, pair)
        elif request or (pair is not None and (self._in_request or pair in self._requests.pairs)):
            self._requests.put(item, pair)
        else:
            self._others.put(item, pair)

    def take(self) -> Item:
        """The next message to handle (IndexError if none); until `handled`, what is put follows it."""
        others_wait = bool(self._others.items)
        self._in_request = bool(self._requests.items) and (
            not others_wait or self._streak < REQUESTS_PER_OTHER
        )
        self._streak = self._streak + 1 if self._in_request and others_wait else 0
        return (self._requests if self._in_request else self._others).take()

    @property
    def in_request(self) -> bool:
        """The message in hand came from the request lane."""
        return self._in_request

    def handled(self) -> None:
        self._in_request = False

    def __len__(self) -> int:
        return len(self._requests.items) + len(self._others.items)
