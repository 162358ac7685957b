"""The event hub: pushes from the actors, fanned out to websocket subscribers.

One thread owns a thespian private endpoint. It tells each workspace actor `AttachHub` (so the actors
learn its address from the sender) and then only listens: task actors send the events they commit,
workspace actors the feed changes. Each message is handed to the event loop, serialized once, and
offered to every subscriber's bounded buffer; a subscriber that falls behind is marked overflowed and
its socket closes (1013), without delaying anyone else, and never an actor: the hub only ever listens.
"""

import asyncio
import json
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from schemas.task_messages import TaskEvents
from schemas.workspace_messages import AttachHub, FeedChanged


class Subscription:
    """A subscriber's buffer of (key, frame): seq for a task's events, cursor for a workspace feed."""

    def __init__(self, topic: tuple[str, str], limit: int) -> None:
        self.topic = topic
        self.limit = limit
        self.frames: deque[tuple[int, str]] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.on_overflow: Callable[[], None] = lambda: None

    def offer(self, key: int, frame: str) -> None:
        if self.overflowed:
            return
        if len(self.frames) >= self.limit:
            self.overflowed = True  # the socket is cut off; the client resumes with `since`
            self.frames.clear()
            self.on_overflow()
        else:
            self.frames.append((key, frame))
        self.ready.set()

    def take(self) -> list[tuple[int, str]]:
        self.ready.clear()
        frames = list(self.frames)
        self.frames.clear()
        return frames


class EventHub:
    def __init__(self, asys: Any, limit: int) -> None:
        self._asys = asys
        self._limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._attach: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._subs: dict[tuple[str, str], set[Subscription]] = {}
        self._log = structlog.get_logger().bind(component="hub")

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._listen, name="event-hub", daemon=True)
        self._thread.start()

    def attach(self, workspace_addr: Any) -> None:
        """Make this hub the workspace's push target (told from the hub's own endpoint)."""
        self._attach.put(workspace_addr)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(5)

    def subscribe(self, kind: str, key: str) -> Subscription:
        sub = Subscription((kind, key), self._limit)
        self._subs.setdefault(sub.topic, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, set())
        subs.discard(sub)
        if not subs:
            self._subs.pop(sub.topic, None)

    def subscribers(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def _listen(self) -> None:
        assert self._loop
        with self._asys.private() as ctx:
            while not self._stopping.is_set():
                while not self._attach.empty():
                    ctx.tell(self._attach.get(), AttachHub())
                msg = ctx.listen(0.1)
                if msg is not None:
                    self._loop.call_soon_threadsafe(self._dispatch, msg)

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, TaskEvents):
            subs = self._subs.get(("task", msg.task_id))
            for event in msg.events if subs else ():
                frame = json.dumps(event)
                for sub in subs or ():
                    sub.offer(event["seq"], frame)
        elif isinstance(msg, FeedChanged):
            subs = self._subs.get(("feed", msg.workspace))
            if subs:
                frame = json.dumps({"type": "task", "cursor": msg.cursor, "task": msg.summary})
                for sub in subs:
                    sub.offer(msg.cursor, frame)
        else:
            self._log.warning("hub.unexpected", message=type(msg).__name__)
