"""A runner's lines to the other runners of its machine, through their doors (actors/runtime/door.py).

Between two runners a thespian message is pickled, acknowledged and carried by several turns of both
transport loops: about 0.45 ms of CPU (docs/benchmarks.md, "Thespian's cost per message"), so that task
actors spread over two runners cost more than the second core gave (docs/design.md, "Runners"). On
one machine a runner writes its frames to the other's door instead: one pickle and one write, read by
the other's event loop. One line per pair of runners, so what one sends to the other arrives in the
order sent, a child's Spawn before any message for it.
"""

import asyncio
import itertools
from pathlib import Path
from typing import Any

from actors import logs
from actors.runtime.door import frame
from schemas.messages import Address
from schemas.runner_messages import Peer

CONNECT_S = 10.0  # how long a line waits for its runner's door to open (the runners start one by one)


class PeerLink:
    """The line to one peer, written on the runner's event loop."""

    def __init__(self, door: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.door, self._loop = door, loop
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: list[bytes] | None = None  # frames sent while the line opens

    def send(self, obj: Any) -> None:
        """From the runner's thread: written after everything sent before."""
        self._loop.call_soon_threadsafe(self._write, frame(obj))

    def close(self) -> None:
        if self._writer is not None:
            self._loop.call_soon_threadsafe(self._writer.close)

    def _write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
        elif self._waiting is not None:
            self._waiting.append(data)
        else:
            self._waiting = [data]
            self._loop.create_task(self._open())

    async def _open(self) -> None:
        deadline = self._loop.time() + CONNECT_S
        while True:
            try:
                _, self._writer = await asyncio.open_unix_connection(self.door)
                break
            except OSError as exc:
                if self._loop.time() > deadline:  # its runner is gone: the server stops for that
                    logs.get().error("peer.unreachable", door=str(self.door), error=str(exc))
                    return
                await asyncio.sleep(0.05)
        waiting, self._waiting = self._waiting or [], None
        for data in waiting:
            self._writer.write(data)


class Peers:
    """A runner's peers: where an actor that spreads goes next (each runner of the machine in turn, the
    runner itself among them), and the lines to them, each opened at first need. None until the runner
    starts, and none for a runner on a worker."""

    def __init__(
        self, peers: list[Peer] | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self._others = [(peer.name, peer.address) for peer in peers or []]
        self._doors = {peer.name: peer.door for peer in peers or []}
        self._loop = loop
        self._turns = itertools.count()
        self.lines: dict[str, PeerLink] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._doors

    def __bool__(self) -> bool:
        return bool(self._doors)

    def next_runner(self, me: str, address: Address) -> tuple[str, Address]:
        runners = [(me, address), *self._others]
        return runners[next(self._turns) % len(runners)]

    def send(self, name: str, obj: Any) -> None:
        if name not in self.lines:
            assert self._loop is not None, "a peer is known only once the runner has started"
            self.lines[name] = PeerLink(self._doors[name], self._loop)
        self.lines[name].send(obj)

    def close(self) -> None:
        for line in self.lines.values():
            line.close()
