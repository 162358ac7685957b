"""An agent's ACP stream read back from its start: what the agent already answered, for a step that runs
again after a crash.

sandbox-agent serves each ACP server's output as server-sent events (`GET /v1/acp/{server}`): every
JSON-RPC message the agent wrote, our requests' responses included, one event each with an `id` that
counts from 1. A connection with `Last-Event-ID: 0` first replays what the server still keeps (its last
1,024 messages), all at once, then waits for live ones: the replay has been read once the stream goes
quiet.
"""

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

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
        data: list[str] = []
        while time.monotonic() < ends:
            try:
                line = response.readline().decode()
            except TimeoutError:
                return
            if not line:
                return  # the server closed the stream
            line = line.rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:  # an event ends at a blank line
                yield json.loads("\n".join(data))
                data = []
    finally:
        conn.close()


def answers(endpoint: str, server: str, request_ids: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """The results the agent already gave to these requests of ours, by request id (errors left out)."""
    found = {}
    for message in replay(endpoint, server, timeout):
        if isinstance(message, dict) and message.get("id") in request_ids and "result" in message:
            found[message["id"]] = message["result"]
    return found
