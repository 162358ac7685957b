"""Logs: JSON lines from the web process and every actor process, bound with the ids that matter."""

import json

from tests.server import make_repo


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
