"""Reading an ACP server's stream back (actors/providers/acp.py): events as sandbox-agent writes them
(heartbeat comments, `id:` lines, data over several lines), read until the replay goes quiet, and only
our requests' answers picked out."""

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from actors.providers import acp

STREAM = (
    b": heartbeat\n\n"
    b'event: message\nid: 1\ndata: {"jsonrpc":"2.0","id":"crucible-initialize","result":{}}\n\n'
    b'event: message\nid: 2\ndata: {"jsonrpc":"2.0","method":"session/update",\ndata: "params":{}}\n\n'
    b'event: message\nid: 3\ndata: {"jsonrpc":"2.0","id":"crucible-session-new","error":{"code":-1}}\n\n'
    b'event: message\nid: 4\ndata: {"jsonrpc":"2.0","id":"crucible-session-new",\n'
    b'data: "result":{"sessionId":"s1"}}\n\n'
)


class Agent(http.server.BaseHTTPRequestHandler):
    """Replays STREAM for server `t1` (HTTP/1.1, chunked, as sandbox-agent does), then keeps the stream
    open as a live one would; 404 for any other server, or without `Last-Event-ID: 0`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path != "/v1/acp/t1" or self.headers["Last-Event-ID"] != "0":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in STREAM.split(b"\n\n")[:-1]:
            chunk = event + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.flush()
        time.sleep(2 * acp.QUIET_S)  # live: nothing more for now

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_the_replay_yields_every_event_and_ends_once_the_stream_is_quiet(endpoint: str) -> None:
    began = time.monotonic()
    messages = await acp.replay(endpoint, "t1", timeout=5.0)
    assert [m.get("id") or m.get("method") for m in messages] == [
        "crucible-initialize",
        "session/update",
        "crucible-session-new",
        "crucible-session-new",
    ]
    assert time.monotonic() - began < acp.MAX_READ_S


async def test_answers_are_the_results_of_our_requests_errors_left_out(endpoint: str) -> None:
    wanted = ("crucible-initialize", "crucible-session-new", "crucible-prompt")
    assert await acp.answers(endpoint, "t1", wanted, timeout=5.0) == {
        "crucible-initialize": {},
        "crucible-session-new": {"sessionId": "s1"},
    }


async def test_a_server_the_agent_does_not_have_has_nothing_to_replay(endpoint: str) -> None:
    assert await acp.replay(endpoint, "other", timeout=5.0) == []
