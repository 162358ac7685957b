"""The event hub: news pushed by the actors, fanned out to websocket subscribers.

The hub listens on a Unix socket in the data directory (`Settings.hub_socket`); task actors push the
events they commit and workspace actors their feed changes, one JSON line each (actors/push.py). Each
piece of news is serialized once, as a complete websocket frame, however many subscribers there are.
A subscriber whose writer is idle and caught up gets it written straight to its connection; otherwise
it waits in the subscriber's bounded buffer for the writer, and a subscriber that falls behind past the
bound is cut off (1013) without delaying anyone else, and never an actor: pushes are never answered.
"""

import asyncio
import json
import os
import struct
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import structlog
from pydantic import Field, TypeAdapter, ValidationError

from schemas.messages import Observations
from schemas.task_messages import TaskEvents
from schemas.workspace_messages import FeedChanged

NEWS: TypeAdapter[TaskEvents | FeedChanged] = TypeAdapter(
    Annotated[TaskEvents | FeedChanged, Field(discriminator="kind")]
)
LINE_LIMIT = 16 * 1024 * 1024  # a batch of events with 32 KiB prompts fits many times over
STOP_WAIT_S = 2.0  # for the connection handlers to see their end of stream, at a stop
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


def text_frame(payload: str) -> bytes:
    """The bytes of an unmasked, uncompressed websocket text frame (RFC 6455 §5.2), as a server sends
    it: the same for every subscriber, so it is built once."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + data


class Subscription:
    """One subscriber of a topic: ("task", id) keyed by seq, or ("feed", workspace) keyed by cursor.

    `last` is the key of the last frame sent. `direct` is set by the writer while it is idle and
    caught up: then a frame that follows `last` is written at once, without waking the writer.
    """

    def __init__(self, topic: tuple[str, str], limit: int) -> None:
        self.topic = topic
        self.limit = limit
        self.last = 0
        self.frames: deque[tuple[int, str]] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.on_overflow: Callable[[], None] = lambda: None
        self.direct: Callable[[bytes], bool] | None = None

    def offer(self, news: list[tuple[int, str, bytes]]) -> None:
        """Consecutive (key, frame, wire) entries, as one commit (or one message) produced them."""
        fresh = [n for n in news if n[0] > self.last]
        if self.overflowed or not fresh:
            return
        follows = fresh[0][0] == self.last + 1 and not self.frames
        if follows and self.direct is not None and self.direct(b"".join(n[2] for n in fresh)):
            self.last = fresh[-1][0]
            return
        for key, frame, _ in fresh:
            if len(self.frames) >= self.limit:
                self.overflowed = True  # the socket is cut off; the client resumes with `since`
                self.frames.clear()
                self.on_overflow()
                break
            self.frames.append((key, frame))
        self.ready.set()

    def take(self) -> list[tuple[int, str]]:
        self.ready.clear()
        frames = list(self.frames)
        self.frames.clear()
        return frames


class EventHub:
    def __init__(self, path: Path, limit: int) -> None:
        self._path = path
        self._limit = limit
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()  # one per connection (_serve)
        self._subs: dict[tuple[str, str], set[Subscription]] = {}
        self.on_observed: Callable[[Observations], None] = lambda observed: None  # metrics
        self._log = structlog.get_logger().bind(component="hub")

    async def start(self) -> None:
        if len(os.fsencode(self._path)) > MAX_SOCKET_PATH:
            raise RuntimeError(f"the data directory's path is too long for a Unix socket: {self._path}")
        self._path.unlink(missing_ok=True)  # left by a server that was killed
        self._server = await asyncio.start_unix_server(self._serve, self._path, limit=LINE_LIMIT)
        self._path.chmod(0o600)

    async def stop(self) -> None:
        """Stop listening, close every actor's connection, and wait for each handler to return. A handler
        left running is cancelled when the loop closes, and Python 3.11's asyncio reports a cancelled
        connection handler as an error, with a traceback on stderr (`Exception in callback
        StreamReaderProtocol...`): at every stop with actors connected, read as a crash."""
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # a connection accepted just now: its handler starts, and is counted
        for writer in tuple(self._connections):
            writer.close()  # its reader sees the end of the stream and returns
        if self._handlers:
            _, late = await asyncio.wait(tuple(self._handlers), timeout=STOP_WAIT_S)
            for handler in late:
                handler.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._path.unlink(missing_ok=True)

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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One actor's connection: a JSON line per push, until the actor exits or the hub stops."""
        handler = asyncio.current_task()
        assert handler is not None
        self._connections.add(writer)
        self._handlers.add(handler)
        try:
            while line := await reader.readline():
                self.dispatch(NEWS.validate_json(line))
        except (ValueError, ValidationError) as exc:  # ValueError: a line over the limit
            self._log.warning("hub.bad_push", error=str(exc)[:200])
        except ConnectionError as exc:  # the actor's end went away mid-line
            self._log.warning("hub.connection_lost", error=str(exc)[:200])
        except asyncio.CancelledError:
            # Cancelled at a stop: the handler ends here, and ends normally, since asyncio 3.11 logs a
            # cancelled connection handler as an error (see stop).
            pass
        finally:
            self._handlers.discard(handler)
            self._connections.discard(writer)
            writer.close()

    def dispatch(self, news: TaskEvents | FeedChanged) -> None:
        if news.observed is not None:
            self.on_observed(news.observed)
        if isinstance(news, TaskEvents):
            topic = ("task", news.task_id)
            keyed = [(e["seq"], json.dumps(e)) for e in news.events] if topic in self._subs else []
        else:
            topic = ("feed", news.workspace)
            keyed = [(news.cursor, json.dumps(news.frame))] if topic in self._subs else []
        entries = [(key, frame, text_frame(frame)) for key, frame in keyed]
        for sub in tuple(self._subs.get(topic, ())):
            sub.offer(entries)
