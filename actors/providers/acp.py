"""An agent's ACP stream read back from its start: what the agent already answered, for a step that runs
again after a crash.

sandbox-agent serves each ACP server's output as server-sent events (`GET /v1/acp/{server}`): every
JSON-RPC message the agent wrote, our requests' responses included, one event each with an `id` that
counts from 1. A connection with `Last-Event-ID: 0` first replays what the server still keeps (its last
1,024 messages), all at once, then waits for live ones: the replay has been read once the stream goes
quiet.
"""

import asyncio
import json
import time
from typing import Any

import aiohttp

QUIET_S = 0.3  # the replay is written at once; a pause this long means it is over
MAX_READ_S = 5.0  # a stream that never pauses (a busy agent) is read this long at most


async def replay(endpoint: str, server: str, timeout: float) -> list[Any]:
    """The messages the ACP server `server` still keeps, oldest first; none if it does not exist. Read on
    the event loop: waiting for the replay to go quiet holds no thread."""
    url = f"{endpoint}/v1/acp/{server}"
    headers = {"Accept": "text/event-stream", "Last-Event-ID": "0"}
    messages: list[Any] = []
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=timeout)) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 404:
                return messages
            if response.status != 200:
                raise OSError(f"GET /v1/acp/{server}: HTTP {response.status}")
            ends, buffer = time.monotonic() + MAX_READ_S, b""
            while time.monotonic() < ends:
                try:  # a read that waits QUIET_S means the replay is over
                    chunk = await asyncio.wait_for(response.content.readany(), QUIET_S)
                except TimeoutError:
                    break
                if not chunk:
                    break  # the server closed the stream
                events, buffer = split_events(buffer + chunk)
                messages += [message for _, message in events]
    except aiohttp.ClientError as exc:
        raise OSError(f"GET /v1/acp/{server}: {exc}") from exc
    return messages


async def answers(endpoint: str, server: str, request_ids: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """The results the agent already gave to these requests of ours, by request id (errors left out)."""
    return {
        message["id"]: message["result"]
        for message in await replay(endpoint, server, timeout)
        if isinstance(message, dict) and message.get("id") in request_ids and "result" in message
    }


async def post(url: str, body: Any, timeout: float) -> tuple[int, Any]:
    """One JSON-RPC request to an agent, on the event loop: (status, parsed body or None). OSError if
    the agent cannot be reached, TimeoutError if it does not answer in time."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, json=body, headers={"Accept": "application/json"}) as response,
        ):
            raw = await response.read()
    except aiohttp.ClientError as exc:
        raise OSError(f"POST {url}: {exc}") from exc
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, None


async def healthy(endpoint: str, timeout: float = 2.0) -> bool:
    """The agent answers its health check, on the event loop."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(f"{endpoint}/v1/health") as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


class AcpStream:
    """The agent's ACP stream, followed live from after a given event id: each burst() is every complete
    event that has arrived, at least one, so that the caller records a burst in one transaction
    (a real agent writes a chunk per token). Runs on the runner's event loop: waiting holds no thread."""

    def __init__(self, endpoint: str, server: str, after: int, timeout: float) -> None:
        self._url = f"{endpoint}/v1/acp/{server}"
        self._after, self._timeout = after, timeout
        self._session: aiohttp.ClientSession | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def burst(self) -> list[tuple[int, Any]]:
        """The events that have arrived, as (id, message); [] once the stream has ended. Raises OSError
        if the agent cannot be reached."""
        content = await self._open()
        while True:
            events = self._take()
            if events:
                return events
            try:
                chunk = await content.readany()
            except aiohttp.ClientError as exc:
                raise OSError(f"GET {self._url}: {exc}") from exc
            if not chunk:
                return []
            self._buffer += chunk + _drain(content)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = self._response = None

    def close_soon(self) -> None:
        """From the runner's thread: the connection closes on its loop, and a burst awaited ends."""
        self._closed = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.close()))

    async def _open(self) -> aiohttp.StreamReader:
        self._loop = asyncio.get_running_loop()
        if self._closed:
            raise OSError("closed")
        if self._response is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=self._timeout))
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(self._after)}
            try:
                self._response = await self._session.get(self._url, headers=headers)
            except aiohttp.ClientError as exc:
                await self.close()
                raise OSError(f"GET {self._url}: {exc}") from exc
            if self._response.status != 200:
                status = self._response.status
                await self.close()
                raise OSError(f"GET {self._url}: HTTP {status}")
        return self._response.content

    def _take(self) -> list[tuple[int, Any]]:
        """The complete events in the buffer, newer than any taken."""
        complete, self._buffer = split_events(self._buffer)
        events = []
        for event in complete:
            if event[0] > self._after:
                self._after = event[0]
                events.append(event)
        return events


def _drain(content: aiohttp.StreamReader) -> bytes:
    """What else has already arrived, without waiting."""
    more = b""
    while chunk := content.read_nowait():
        more += chunk
    return more


def split_events(buffer: bytes) -> tuple[list[tuple[int, Any]], bytes]:
    """The complete events in a stream's bytes (an event ends at a blank line), as (id, message), and
    the rest, an event not yet complete."""
    *complete, rest = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
    return [e for e in map(parse_event, (block.decode() for block in complete)) if e is not None], rest


def parse_event(block: str) -> tuple[int, Any] | None:
    """One server-sent event's id and JSON data; None for one without both (a comment, a keep-alive)."""
    event_id, data = None, []
    for line in block.split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id" and value.isdigit():
            event_id = int(value)
        elif field == "data":
            data.append(value)
    if event_id is None or not data:
        return None
    text = "\n".join(data)
    try:
        return event_id, json.loads(text)
    except ValueError:
        return event_id, text
