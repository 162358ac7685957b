"""A runner's door: the web process on its machine asks the runner's actors over a Unix socket, and
hears their answers on it, instead of over thespian's transport.

A thespian ask from the web is pickled, sent and acknowledged over TCP to the runner, and its answer
comes back the same way, each leg through a turn of both processes' transport loops: most of a
create's time at one client (docs/benchmarks.md, "The floor of Crucible's shape"). Here an ask is one
frame written to the runner's socket; the runner's event loop (actors/runtime/work.py) reads it and
wakes the runner through the pipe it already watches, and the answer is one frame written back by
that loop.

The other runners of the machine come in by the same door (actors/runtime/peers.py): what their actors
send to this runner's actors, and their answers for the web's asks made here.

Frames are a 4-byte length and a pickle, as thespian's own messages are: the socket is the data
directory's, mode 0600, reachable only by the user that runs the server. The web is trusted as it is on
thespian's transport.
"""

import asyncio
import itertools
import os
import pickle
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thespian.actors import ActorAddress

from actors.runtime.refs import Batch, Envelope, Ref
from schemas.runner_messages import Spawn

HEADER = struct.Struct("!I")
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
FULL = 5000  # messages in the runner's mailbox past which its door reads no more asks (until half that)


class DoorAddress(ActorAddress):  # type: ignore[misc]
    """Who asked through a runner's door: the actors answer it as any sender. `runner` is that runner's
    thespian address, so that an actor on another runner can hand its answer there (Answer)."""

    def __init__(self, runner: ActorAddress, runner_name: str, connection: int) -> None:
        super().__init__(("door", runner_name, connection))
        self.runner, self.runner_name, self.connection = runner, runner_name, connection

    def __hash__(self) -> int:
        return hash(self.addressDetails)


@dataclass(frozen=True)
class Answer:
    """An answer for a door of another runner: sent to that runner, which writes it out."""

    to: DoorAddress
    msg: Any


# What comes in for the runner's actors: the web's ask (an Envelope from its DoorAddress), or what another
# runner of this machine sends them (an Envelope, a Batch of them, a Spawn of a child made there).
Arrival = Envelope | Batch | Spawn


def frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame's object; IncompleteReadError once the other end has gone."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def door_path(data_dir: Path, index: int) -> Path | None:
    """Where the leader's runner `index` listens; None if the data directory's path is too long for a
    Unix socket (the web then asks over thespian, as before)."""
    path = data_dir / f"runner-{index}.sock"
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


class Door:
    """The runner's end. Its connections are served on the runner's event loop; what they bring waits
    in `arrived` for the runner's thread, woken by `wake`."""

    def __init__(self, path: Path, runner: ActorAddress, runner_name: str, wake: Callable[[], None]) -> None:
        self.path, self.runner, self.runner_name, self.wake = path, runner, runner_name, wake
        self.arrived: deque[Arrival] = deque()  # in on the loop, out on the runner
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room: asyncio.Event | None = None  # set while the runner takes asks (see pace)
        self.paused = False  # the runner's view of it

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._room = asyncio.Event()
        self._room.set()
        self.path.unlink(missing_ok=True)  # left by a runner that was killed
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        self.path.chmod(0o600)

    def take(self) -> list[Arrival]:
        """On the runner's thread: what came in, in order."""
        taken = []
        while self.arrived:  # append and popleft are atomic: safe between the two threads
            taken.append(self.arrived.popleft())
        return taken

    def pace(self, depth: int) -> None:
        """On the runner's thread, after each turn: a mailbox bounded by pushing back on the web. At FULL
        messages waiting the door reads no more asks, and reads again once they are down to half that.
        The asks wait in the socket, the web's writes wait for room in it (backend/door.py), and so do the
        HTTP requests behind them: the senders slow down and the runner's memory stops growing."""
        full = depth >= FULL
        if full != self.paused and (full or depth <= FULL // 2):
            assert self._loop is not None and self._room is not None
            self.paused = full
            self._loop.call_soon_threadsafe(self._room.clear if full else self._room.set)

    def answer(self, to: DoorAddress, msg: Any) -> None:
        """On the runner's thread: written by the loop. An asker gone since is not waiting for it."""
        assert self._loop is not None
        data = frame(msg)
        self._loop.call_soon_threadsafe(self._write, to.connection, data)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        self.path.unlink(missing_ok=True)

    def _write(self, connection: int, data: bytes) -> None:
        writer = self._writers.get(connection)
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self._ids)
        self._writers[connection] = writer
        asker = DoorAddress(self.runner, self.runner_name, connection)
        assert self._room is not None
        try:
            while True:
                await self._room.wait()
                arrival = await read_frame(reader)
                if isinstance(arrival, Answer):  # from another runner, for an ask made here: out at once
                    self._write(arrival.to.connection, frame(arrival.msg))
                    continue
                if isinstance(arrival, tuple):  # the web's ask: (actor key, message)
                    key, msg = arrival
                    arrival = Envelope(Ref(self.runner, self.runner_name, key), msg, asker, request=True)
                self.arrived.append(arrival)
                self.wake()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the web process went, or the runner stops
        finally:
            self._writers.pop(connection, None)
            writer.close()
