"""The web process's end of the runners' doors (actors/runtime/door.py): an ask to an actor hosted by a
runner on this machine is one frame on that runner's Unix socket, and its answer one frame back, matched
by request id. No thread is held while the actors work."""

import asyncio
import contextlib
from pathlib import Path

import structlog

from actors.runtime.door import frame, read_frame
from actors.runtime.refs import Ref
from backend.bridge import BridgeError
from schemas.messages import Address, Reply, Request


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.waiting: dict[str, asyncio.Future[Reply]] = {}
        self.reading = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Each answer to the ask that waits for it; once the runner has gone, every ask still waiting
        fails at once (rather than at its timeout)."""
        try:
            while True:
                reply = await read_frame(reader)
                waiter = self.waiting.pop(getattr(reply, "request_id", ""), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writer.close()
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(BridgeError("the runner went before it answered"))
            self.waiting.clear()

    @property
    def closed(self) -> bool:
        return self.reading.done()


class Doors:
    def __init__(self) -> None:
        self.paths: dict[str, Path] = {}  # runner name → its door
        self._open: dict[str, Connection] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._log = structlog.get_logger().bind(component="door")

    def serves(self, addr: Address) -> bool:
        return isinstance(addr, Ref) and addr.runner_name in self.paths

    async def ask(self, addr: Ref, msg: Request, timeout: float) -> Reply:
        """BridgeError, as for a thespian ask: the runner cannot be reached, goes before it answers, or
        does not answer in time."""
        connection = await self._connection(addr.runner_name)
        answered: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        connection.waiting[msg.request_id] = answered
        try:
            async with asyncio.timeout(timeout):
                connection.writer.write(frame((addr.key, msg)))
                await connection.writer.drain()  # a runner with a full mailbox pushes back (runtime/door.py)
                return await answered
        except TimeoutError:
            raise BridgeError(f"no answer from the actors within {timeout:.0f}s") from None
        except ConnectionError as exc:  # while waiting for room: the runner went
            raise BridgeError("the runner went before it answered") from exc
        finally:
            connection.waiting.pop(msg.request_id, None)

    async def close(self) -> None:
        for connection in self._open.values():
            connection.writer.close()
            with contextlib.suppress(asyncio.CancelledError):
                await connection.reading
        self._open.clear()

    async def _connection(self, runner: str) -> Connection:
        async with self._opening.setdefault(runner, asyncio.Lock()):
            connection = self._open.get(runner)
            if connection is None or connection.closed:
                try:
                    reader, writer = await asyncio.open_unix_connection(self.paths[runner])
                except OSError as exc:
                    raise BridgeError(f"runner {runner} cannot be reached: {exc}") from exc
                connection = self._open[runner] = Connection(reader, writer)
                self._log.info("door.opened", runner=runner)
            return connection
