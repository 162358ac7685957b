"""A graceful stop logs JSON lines only: what operators read as a crash is a line that is not JSON."""

import pytest

from tests.helpers.logs import entries, not_json

pytestmark = pytest.mark.integration


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
    logged = entries(server.log)
    assert [e for e in logged if e.get("logger") == "asyncio"] == []  # not even as JSON: none cancelled
    events = [e["event"] for e in logged]
    assert events[-1] == "serve.stopped" and "runtime.drained" in events
