"""A graceful stop logs JSON lines only: what operators read as a crash is a line that is not JSON."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def not_json(log: Path) -> list[str]:
    """Each non-empty line of a server's output (stderr, and stdout, which it leaves empty) that is not
    a JSON object."""
    bad = []
    for line in log.read_text().splitlines():
        try:
            if line.strip() and not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def test_a_sigterm_with_four_running_local_tasks_exits_0_logging_json_lines_only(make_server, repo):
    """Each task actor holds a connection to the event hub; at the stop the hub's handlers were cancelled
    by the loop's teardown, and asyncio printed each cancellation as a traceback."""
    server = make_server("local").start()
    assert server.register(repo).status == 201
    ids = [server.create({"prompt": f"task {n}"}).body["id"] for n in range(4)]
    records = [server.wait_status(task_id, {"running", "error"}, timeout=90) for task_id in ids]
    assert [r["status"] for r in records] == ["running"] * 4, [r["error"] for r in records]
    assert server.stop() == 0
    assert not_json(server.log) == []
    entries = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    assert [e for e in entries if e.get("logger") == "asyncio"] == []  # not even as JSON: none cancelled
    events = [e["event"] for e in entries]
    assert events[-1] == "serve.stopped" and "runtime.drained" in events
