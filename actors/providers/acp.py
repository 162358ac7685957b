"""An agent's ACP stream read back from its start: what the agent already answered, for a step that runs
again after a crash.

sandbox-agent serves each ACP server's output as server-sent events (`GET /v1/acp/{server}`): every
JSON-RPC message the agent wrote, our requests' responses included, one event each with an `id` that
counts from 1. A connection with `Last-Event-ID: 0` first replays what the server still keeps (its last
1,024 messages), all at once, then waits for live ones: the replay has been read once the stream goes
quiet.
"""

import asyncio
import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp

QUIET_S = 0.3  # the replay is written at once; a pause this long means it is over
MAX_READ_S = 5.0  # a stream that never pauses (a busy agent) is read this long at most


def replay(endpoint: str, server: str, timeout: float) -> Iterator[Any]:
    """The messages the ACP server `server` still keeps, oldest first; none if it does not exist."""
    url = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request(
            "GET", f"/v1/acp/{server}", headers={"Accept": "text/event-stream", "Last-Event-ID": "0"}
        )
        response = conn.getresponse()
        if response.status == 404:
            return
        if response.status != 200:
            raise OSError(f"GET /v1/acp/{server}: HTTP {response.status}")
        if conn.sock is None:  # the agent ends the response (sandbox-agent keeps it open, chunked)
            raise OSError(f"GET /v1/acp/{server}: the stream was not kept open")
        conn.sock.settimeout(QUIET_S)  # from now on a read that waits this long means the replay is over
        ends = time.monotonic() + MAX_READ_S
        block: list[str] = []
        while time.monotonic() < ends:
            try:
                line = response.readline().decode()
            except TimeoutError:
                return
            if not line:
                return  # the server closed the stream
            line = line.rstrip("\r\n")
            if line:
                block.append(line)
                continue
            event = parse_event("\n".join(block))  # an event ends at a blank line
            block = []
            if event is not None:
                yield event[1]
    finally:
        conn.close()


def answers(endpoint: str, server: str, request_ids: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """The results the agent already gave to these requests of ours, by request id (errors left out)."""
    found = {}
    for message in replay(endpoint, server, timeout):
        if isinstance(message, dict) and message.get("id") in request_ids and "result" in message:
            found[message["id"]] = message["result"]
    return found


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
        """The complete events in the buffer (an event ends at a blank line), newer than any taken."""
        text = self._buffer.replace(b"\r\n", b"\n")
        *complete, self._buffer = text.split(b"\n\n")
        events = []
        for block in complete:
            event = parse_event(block.decode())
            if event is not None and event[0] > self._after:
                self._after = event[0]
                events.append(event)
        return events


def _drain(content: aiohttp.StreamReader) -> bytes:
    """What else has already arrived, without waiting."""
    more = b""
    while chunk := content.read_nowait():
        more += chunk
    return more


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
