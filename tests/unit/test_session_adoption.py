"""`init_create_session` run again after a crash (LocalProvider.open_session): a `session/new` the agent
got but had not answered is adopted through ACP's `session/list` where the agent announces it, and only
then. The agent here is a stand-in speaking sandbox-agent's HTTP (a replayed stream, JSON-RPC posts)."""

import asyncio
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.providers import acp
from actors.providers.base import TaskContext
from actors.providers.local import INITIALIZE_ID, SESSION_NEW_ID, LocalProvider
from schemas.settings import Settings

LISTS = {"agentCapabilities": {"sessionCapabilities": {"list": {}}}}


class Agent(http.server.ThreadingHTTPServer):
    """Replays `answered` (our requests' results by id), records every method posted, lists `sessions`
    and answers `session/new` with a session of its own."""

    def __init__(self, answered: dict[str, Any], sessions: list[dict[str, Any]] | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answered, self.sessions, self.posted = answered, sessions, []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Agent

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, (request_id, result) in enumerate(self.server.answered.items(), 1):
            event = f"id: {n}\ndata: {json.dumps({'jsonrpc': '2.0', 'id': request_id, 'result': result})}\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event.encode()))
        self.wfile.flush()
        threading.Event().wait(2 * acp.QUIET_S)  # then quiet: the replay is over

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posted.append(body["method"])
        if body["method"] == "session/list" and self.server.sessions is not None:
            reply: dict[str, Any] = {"result": {"sessions": self.server.sessions}}
        elif body["method"] == "session/list":
            reply = {"error": {"code": -32601, "message": "Method not found"}}
        else:
            reply = {"result": {"sessionId": "made-now"} if body["method"] == "session/new" else {}}
        raw = json.dumps({"jsonrpc": "2.0", "id": body["id"]} | reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., tuple[str, list[str]]]]:
    """open_session against a stand-in agent: (the session id it gives, the methods it posted)."""
    agents: list[Agent] = []

    def open_session(
        answered: dict[str, Any], sessions: list[dict[str, Any]] | None, known: str | None = None
    ) -> tuple[str, list[str]]:
        agent = Agent(answered, sessions)
        agents.append(agent)
        threading.Thread(target=agent.serve_forever, daemon=True).start()
        settings = Settings(data_dir=tmp_path)
        endpoint = f"http://127.0.0.1:{agent.server_address[1]}"
        ctx = TaskContext(
            task_id="t1",
            workspace="w",
            project="p",
            branch="b",
            prompt="p",
            agent="mock",
            data=tmp_path,
            mirror=tmp_path,
            settings=settings,
            agent_info={"endpoint": endpoint},
            session_id=known,
        )
        return asyncio.run(LocalProvider(settings).open_session(ctx)), agent.posted

    yield open_session
    for agent in agents:
        agent.shutdown()
        agent.server_close()


def listed(tmp_path: Path, session_id: str, updated: str) -> dict[str, Any]:
    return {"sessionId": session_id, "cwd": str(tmp_path / "sandboxes" / "t1"), "updatedAt": updated}


def test_an_unanswered_session_new_is_adopted_from_the_agents_list(run: Any, tmp_path: Path) -> None:
    sessions = [
        listed(tmp_path, "older", "2026-12-01T10:00:00Z"),
        listed(tmp_path, "ours", "2026-12-06T10:00:00Z"),
    ]
    session_id, posted = run({INITIALIZE_ID: LISTS}, sessions)
    assert (session_id, posted) == ("ours", ["session/list"])


def test_the_session_of_an_earlier_agent_run_is_not_adopted(run: Any, tmp_path: Path) -> None:
    session_id, posted = run(
        {INITIALIZE_ID: LISTS}, [listed(tmp_path, "before", "2026-12-06T10:00:00Z")], "before"
    )
    assert (session_id, posted) == ("made-now", ["session/list", "session/new"])


def test_a_session_in_another_directory_is_not_adopted(run: Any) -> None:
    other = {"sessionId": "theirs", "cwd": "/elsewhere", "updatedAt": "2026-12-06T10:00:00Z"}
    session_id, posted = run({INITIALIZE_ID: LISTS}, [other])
    assert (session_id, posted) == ("made-now", ["session/list", "session/new"])


def test_an_agent_that_does_not_announce_list_is_not_asked(run: Any, tmp_path: Path) -> None:
    session_id, posted = run({INITIALIZE_ID: {"agentCapabilities": {}}}, [listed(tmp_path, "x", "")])
    assert (session_id, posted) == ("made-now", ["session/new"])


def test_a_failed_list_makes_a_new_session(run: Any) -> None:
    session_id, posted = run({INITIALIZE_ID: LISTS}, None)
    assert (session_id, posted) == ("made-now", ["session/list", "session/new"])


def test_an_answered_session_new_is_adopted_without_asking(run: Any) -> None:
    session_id, posted = run({INITIALIZE_ID: LISTS, SESSION_NEW_ID: {"sessionId": "answered"}}, [])
    assert (session_id, posted) == ("answered", [])


def test_a_first_attempt_initializes_and_makes_a_session_without_listing(run: Any, tmp_path: Path) -> None:
    session_id, posted = run({}, [listed(tmp_path, "x", "")])
    assert (session_id, posted) == ("made-now", ["initialize", "session/new"])
