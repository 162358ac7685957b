"""Archive, kill, retry and delete over HTTP on real servers; kill mid-step with the real local provider."""

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.server import AGENT_BIN, Server, agents_under, wait_until

SLOW = """#!{python}
import os, sys, time
if {slow}:
    time.sleep(60)  # a step in flight that would take a minute, unless the task is killed
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def slow_program(tmp_path: Path, name: str, real: str, slow: str) -> Path:
    """A stand-in for a program that hangs when called as `slow` says, and is the real one otherwise."""
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(SLOW.format(python=sys.executable, slow=slow, real=real))
    path.chmod(0o755)
    return path


def mirror_branches(server: Server) -> list[str]:
    mirror = server.data / "repos" / "default" / "demo.git"
    refs = ["git", "for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads"]
    return subprocess.run(refs, cwd=mirror, capture_output=True, text=True).stdout.split()


def killed_cleanly(server: Server, task_id: str, branch: str) -> None:
    record = server.wait_status(task_id, {"killed"}, timeout=60)
    assert record["status"] == "killed"
    assert not (server.data / "sandboxes" / task_id).exists()
    assert not (server.data / "tmp" / f"sandbox-{task_id}").exists()
    assert agents_under(server.data) == []
    assert branch not in mirror_branches(server)
    kinds = [e["kind"] for e in server.history(task_id)]
    assert kinds[-1] == "task.kill" and kinds.count("task.kill") == 1
    again = server.create({"prompt": "same branch", "branch": branch})  # the reservation is released
    assert again.status == 201, again.body


def test_kill_during_create_sandbox_stops_the_clone_and_leaves_nothing(make_server, repo, tmp_path):
    git = slow_program(tmp_path, "git", "/usr/bin/git", 'sys.argv[1:3] == ["clone", "--quiet"]')
    server = make_server("local", PATH=f"{git.parent}:{os.environ['PATH']}").start()
    server.register(repo)
    task_id = server.create({"prompt": "slow clone", "branch": "feature/slow"}).body["id"]
    wait_until(lambda: server.task(task_id)["status"] == "init_create_sandbox", timeout=30)
    wait_until(lambda: (server.data / "tmp").exists(), timeout=10)
    assert server.post(f"/v1/tasks/{task_id}/kill").status == 202
    killed_cleanly(server, task_id, "feature/slow")


def test_kill_during_ensure_agent_stops_the_starting_agent_and_leaves_nothing(make_server, repo, tmp_path):
    agent = slow_program(tmp_path, "sandbox-agent", str(AGENT_BIN), 'sys.argv[1:2] == ["server"]')
    server = make_server("local", CRUCIBLE_SANDBOX_AGENT_BIN=agent).start()
    server.register(repo)
    task_id = server.create({"prompt": "slow agent", "branch": "feature/agent"}).body["id"]
    wait_until(lambda: server.task(task_id)["status"] == "init_ensure_agent", timeout=30)
    wait_until(lambda: running(agent) != [], timeout=30)  # it is starting
    assert server.post(f"/v1/tasks/{task_id}/kill").status == 202
    killed_cleanly(server, task_id, "feature/agent")
    assert running(agent) == []


def running(program: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if str(program) in (p.info["cmdline"] or [])]


def test_archive_keeps_the_branch_in_the_mirror_then_kill_and_delete_remove_everything(make_server, repo):
    server = make_server("local").start()
    server.register(repo)
    task_id = server.create({"prompt": "to archive", "branch": "feature/keep"}).body["id"]
    server.wait_status(task_id, {"running"}, timeout=90)
    response = server.post(f"/v1/tasks/{task_id}/archive")
    assert response.status == 202 and response.body["id"] == task_id
    record = server.wait_status(task_id, {"archived"}, timeout=60)
    assert "feature/keep" in mirror_branches(server)
    assert not (server.data / "sandboxes" / task_id).exists() and agents_under(server.data) == []
    assert [s["name"] for s in record["steps"]][-2:] == ["archive_finalize", "archived"]

    assert server.post(f"/v1/tasks/{task_id}/kill").status == 202  # an archived task can still be killed
    server.wait_status(task_id, {"killed"}, timeout=60)
    assert "feature/keep" not in mirror_branches(server)
    assert server.request("DELETE", f"/v1/tasks/{task_id}").status == 204
    assert server.get(f"/v1/tasks/{task_id}").status == 404
    listed = server.get("/v1/workspaces/default/tasks").body["tasks"]
    assert task_id not in {t["id"] for t in listed}
    assert not (server.data / "tasks" / f"{task_id}.sqlite").exists()


def test_forbidden_transitions_are_409_with_the_status_and_unknown_tasks_404(make_server, repo):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=1).start()
    server.register(repo)
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    for method, path in [("POST", "retry"), ("DELETE", "")]:
        response = server.request(method, f"/v1/tasks/{task_id}/{path}".rstrip("/"))
        assert response.status == 409, path
        assert response.body["error"]["code"] == "invalid_transition"
        assert response.body["error"]["details"] == {"status": "running"}
    assert server.post(f"/v1/tasks/{'f' * 22}/kill").status == 404
    assert server.post(f"/v1/tasks/{task_id}/explode").status == 404


def test_retry_over_http_continues_a_failed_task_from_its_failed_step(make_server, repo):
    server = make_server("sim", CRUCIBLE_SIM_FAIL=1, CRUCIBLE_MAX_ATTEMPTS=1).start()
    server.register(repo)
    task_id = server.create().body["id"]
    record = server.wait_status(task_id, {"error"}, timeout=30)
    assert record["error"]["step"] == "init_ensure_name"
    response = server.post(f"/v1/tasks/{task_id}/retry")
    assert response.status == 202
    wait_until(lambda: any(e["data"].get("source") == "user" for e in server.history(task_id)))
    server.wait_status(task_id, {"error"}, timeout=30)  # every call still fails: error again, visibly
    assert [e["kind"] for e in server.history(task_id)].count("task.error") == 2


def test_a_running_task_whose_agent_died_gets_it_back_at_start_and_a_vanished_checkout_is_an_error(
    make_server, repo
):
    """Agents outlive a stop; here one dies meanwhile (a reboot, an OOM) and another task's checkout
    is deleted. At start the first gets a new agent and session (`restarted`), the second an error."""
    import shutil

    server = make_server("local").start()
    server.register(repo)
    alive, gone = (server.create({"prompt": p}).body["id"] for p in ("revive me", "lose my checkout"))
    for task_id in (alive, gone):
        server.wait_status(task_id, {"running"}, timeout=90)
    assert server.stop() == 0
    for agent in agents_under(server.data):
        os.killpg(agent.pid, 9)
    shutil.rmtree(server.data / "sandboxes" / gone)

    server.start()
    record = server.wait_status(alive, {"running"}, timeout=90)
    restarted = [e for e in server.history(alive) if e["data"].get("restarted")]
    assert [e["kind"] for e in restarted] == ["task.agent", "task.session"]
    assert restarted[0]["data"]["endpoint"] == record["agent_endpoint"]
    assert [p.environ()["CRUCIBLE_TASK_ID"] for p in agents_under(server.data)] == [alive]
    assert [e["kind"] for e in server.history(alive)].count("task.initialized") == 2
    failed = server.wait_status(gone, {"error"}, timeout=30)
    assert "checkout" in failed["error"]["message"] and "gone" in failed["error"]["message"]
