"""Logs: JSON lines from the web process and every actor process, bound with the ids that matter."""

import json
import socket

from tests.helpers.logs import entries
from tests.server import make_repo, wait_until


def test_actor_and_server_logs_are_json_lines_bound_with_task_request_and_step(make_server, tmp_path):
    server = make_server("sim").start()
    server.register(make_repo(tmp_path / "repo"))
    task_id = server.create(headers={"X-Request-Id": "trace-me"}).body["id"]
    server.wait_status(task_id, {"running"})
    lines = [json.loads(line) for line in (server.data / "logs" / "actors.log").read_text().splitlines()]
    ours = [entry for entry in lines if entry.get("task_id") == task_id]
    initialized = next(e for e in ours if e["event"] == "task.initialized")
    assert initialized["request_id"].startswith("trace-me/")
    assert initialized["workspace"] == "default" and initialized["project"] == "demo"
    starts = [e for e in ours if e["event"] == "step.start"]
    assert [e["step"] for e in starts][:2] == ["init_ensure_name", "init_create_sandbox"]
    assert all(e["attempt"] == 1 and e["actor"] == "task" for e in starts)
    served = [json.loads(line) for line in server.log.read_text().splitlines()]  # all JSON
    assert any(e["event"] == "serve.listening" for e in served)


def test_a_request_aiohttp_cannot_parse_is_a_warning_not_an_error(make_server):
    """A NUL byte in a header: 400 for the client, and a warning in the log, since nothing failed here."""
    server = make_server("sim").start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n")
        assert conn.recv(64).split(b" ")[1] == b"400"
    wait_until(lambda: any("Error handling request" in e["event"] for e in entries(server.log)))
    parse_errors = [e for e in entries(server.log) if "Error handling request" in e["event"]]
    assert [e["level"] for e in parse_errors] == ["warning"]
    assert [e for e in entries(server.log) if e["level"] == "error"] == []
