"""The local provider for real: git checkouts, sandbox-agent servers, ACP servers."""

import json
import subprocess
import urllib.request

import pytest

from tests.server import agents_under

pytestmark = pytest.mark.integration


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.load(resp)


def test_tasks_reach_running_with_a_checkout_an_agent_and_an_acp_server(make_server, repo):
    server = make_server("local").start()
    assert server.register(repo).status == 201
    branches_before = git("branch", "--list", cwd=repo)
    bodies = [
        {"prompt": "Generated branch"},
        {"prompt": "New branch", "branch": "feature/new"},
        {"prompt": "Existing branch", "branch": "existing"},
    ]
    ids = [server.create(body).body["id"] for body in bodies]
    records = [server.wait_status(task_id, {"running", "error"}, timeout=90) for task_id in ids]
    assert [r["status"] for r in records] == ["running"] * 3, [r["error"] for r in records]
    for record in records:
        path = record["sandbox"]["path"]
        assert path == str(server.data / "sandboxes" / record["id"])
        assert git("branch", "--show-current", cwd=path) == record["branch"]
        status, health = get_json(f"{record['agent_endpoint']}/v1/health")
        assert (status, health) == (200, {"status": "ok"})
        _, acp = get_json(f"{record['agent_endpoint']}/v1/acp")
        assert [(s["serverId"], s["agent"]) for s in acp["servers"]] == [(record["id"], "mock")]
    assert git("rev-parse", "HEAD", cwd=records[2]["sandbox"]["path"]) == git(
        "rev-parse", "existing", cwd=repo
    )
    assert git("rev-parse", "HEAD", cwd=records[1]["sandbox"]["path"]) == git("rev-parse", "main", cwd=repo)
    # One agent process per task, each carrying its task's marker; nothing written to the user's repo.
    agents = agents_under(server.data)
    assert sorted(p.environ()["CRUCIBLE_TASK_ID"] for p in agents) == sorted(ids)
    assert git("branch", "--list", cwd=repo) == branches_before
    # A clean stop leaves the agents of running tasks up (sandboxes outlive the backend).
    assert server.stop() == 0
    assert {p.pid for p in agents_under(server.data)} == {p.pid for p in agents}


def test_an_agent_that_cannot_be_installed_ends_in_error_at_ensure_agent(make_server, repo, tmp_path):
    server = make_server("local", XDG_DATA_HOME=tmp_path / "xdg").start()
    assert server.register(repo).status == 201
    task_id = server.create({"prompt": "needs claude", "agent": "claude"}).body["id"]
    record = server.wait_status(task_id, {"running", "error"}, timeout=60)
    assert record["status"] == "error"
    assert record["error"]["step"] == "init_ensure_agent"
    assert "agent 'claude' cannot be installed" in record["error"]["message"]
    assert server.history(task_id)[-1]["kind"] == "task.error"
    assert agents_under(server.data) == []
