"""A runner's mailbox: one queue for all its actors, and a lane ahead of it for the web's requests.

Messages wait their turn in one FIFO. A step's outcome costs its runner about a millisecond, and when
many tasks' steps end together a create from the web would wait behind all of them (20 ms and more at
one client, measured). So the web's asks (through the runner's door) go in a lane handled first, and so
does what their handling sends on, unless it would overtake an earlier message from the same sender to
the same actor. The order the actor model promises, per sender and receiver, holds (actors on other
runners and hosts never had more); a create answers without waiting for the provisioning in progress.
"""

from collections import Counter, deque
from typing import Any

from actors.runtime.refs import Ref

Item = tuple[str, Any, Any, float]  # (actor key, message, sender, when it was put)


class Mailbox:
    def __init__(self) -> None:
        self._requests: deque[Item] = deque()
        self._others: deque[Item] = deque()
        self._waiting: Counter[tuple[str, str]] = Counter()  # (sender key, actor key) → in _others
        self._in_request = False  # the message in hand came from the request lane

    def put(self, item: Item, request: bool = False) -> None:
        """`request`: an ask from the web. What an actor sends while it handles one is a request too,
        unless a message from it to the same actor waits in the other lane."""
        key, _, sender, _ = item
        pair = (sender.key, key) if isinstance(sender, Ref) else None
        if request or (self._in_request and pair is not None and not self._waiting[pair]):
            self._requests.append(item)
            return
        self._others.append(item)
        if pair is not None:
            self._waiting[pair] += 1

    def take(self) -> Item:
        """The next message to handle (IndexError if none); until `handled`, what is put follows it."""
        self._in_request = bool(self._requests)
        if self._in_request:
            return self._requests.popleft()
        item = self._others.popleft()
        key, _, sender, _ = item
        if isinstance(sender, Ref):
            pair = (sender.key, key)
            self._waiting[pair] -= 1
            if not self._waiting[pair]:
                del self._waiting[pair]
        return item

    def handled(self) -> None:
        self._in_request = False

    def __len__(self) -> int:
        return len(self._requests) + len(self._others)
