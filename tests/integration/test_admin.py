"""The admin script against real running servers: every command, `--json` parsed and checked."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.settings import Settings
from tests.helpers.admin import admin, admin_json
from tests.server import ROOT, Server, free_port, make_repo, serving_sim, wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving_sim(tmp_path_factory, "admin", {"CRUCIBLE_SIM_STEP_MS": "20"})


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every provider call fails (transiently): tasks wait a minute between two attempts."""
    env = {"CRUCIBLE_SIM_FAIL": "1", "CRUCIBLE_BACKOFF_BASE_S": "60", "CRUCIBLE_MAX_ATTEMPTS": "2"}
    yield from serving_sim(tmp_path_factory, "failing", env)


def test_nothing_listening_is_a_one_line_error_exit_1_and_starts_no_system(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "scripts.admin", "--data-dir", str(tmp_path), "--actor-port", str(port)]
    done = subprocess.run([*command, "status"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and str(port) in done.stderr
    with socket.socket() as probe:  # still nothing there: no actor system was started
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_admin_finds_a_server_through_the_environment_alone(tmp_path: Path) -> None:
    """A server given its data directory and a non-default actor port in CRUCIBLE_DATA_DIR and
    CRUCIBLE_ACTOR_PORT only: the admin, given the same environment and no flag, reaches it. The
    environment's port wins over the pid file's, which is used when the environment names none."""
    server = Server(tmp_path / "data", "sim", settings_in_env=True)
    assert server.actor_port != Settings.model_fields["actor_port"].default

    def status(**env: str) -> subprocess.CompletedProcess[str]:
        """`crucible-admin status --json`, no flag but --json, with only `env` of the CRUCIBLE_ settings."""
        base = {k: v for k, v in os.environ.items() if k not in ("CRUCIBLE_DATA_DIR", "CRUCIBLE_ACTOR_PORT")}
        command = [sys.executable, "-m", "scripts.admin", "status", "--json"]
        return subprocess.run(command, cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=60)

    try:
        server.start()
        data, port = str(server.data), str(server.actor_port)
        done = status(CRUCIBLE_DATA_DIR=data, CRUCIBLE_ACTOR_PORT=port)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["actors"]["workspace"] == 1

        pid_file = server.data / "crucible.pid"
        recorded = json.loads(pid_file.read_text())
        assert recorded["actor_port"] == server.actor_port  # the server's own record of its port
        elsewhere = free_port()  # the pid file now names a port where nothing listens
        pid_file.write_text(json.dumps({**recorded, "actor_port": elsewhere}))
        try:
            done = status(CRUCIBLE_DATA_DIR=data, CRUCIBLE_ACTOR_PORT=port)
            assert done.returncode == 0, done.stderr  # the environment's port, not the pid file's
            done = status(CRUCIBLE_DATA_DIR=data)
            assert done.returncode == 1 and str(elsewhere) in done.stderr  # no port given: the pid file's
        finally:
            pid_file.write_text(json.dumps(recorded))
    finally:
        server.cleanup()


def test_status_counts_tasks_and_actors(server: Server) -> None:
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    report = admin_json(server, "status")
    assert report["tasks_by_status"]["running"] >= 1
    assert {"workspace", "project", "mirror"} <= set(report["actors"])
    assert report["in_flight"] == [] and report["pending_retries"] == []


def test_actors_lists_every_live_actor_by_kind_and_key_with_its_runner_and_age(server: Server) -> None:
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    actors = admin_json(server, "actors")
    tasks = [a for a in actors if a["kind"] == "task"]
    assert task_id in {a["id"] for a in tasks}  # at rest, not yet passivated
    assert all(a["address"] and a["age_s"] is not None and a["age_s"] >= 0 for a in actors)
    # A workspace's project and mirror share its runner, its tasks go to the machine's runners in turn
    # (docs/design.md, "Runners"); each actor has a key of its own.
    assert all(a["key"].startswith(f"{a['kind']}-") for a in actors if a["kind"] != "workspace")
    assert len({a["key"] for a in actors}) == len(actors)
    assert len({a["runner"] for a in actors if a["kind"] != "task"}) == 1
    assert all(a["runner"].startswith("leader/") for a in actors)


def test_tasks_filters_by_status_and_project(server: Server) -> None:
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    running = admin_json(server, "tasks", "--status", "running", "--project", "demo")
    assert task_id in {t["id"] for t in running} and {t["status"] for t in running} == {"running"}
    assert admin_json(server, "tasks", "--status", "killed") == []


def test_show_and_history_agree_with_the_api(server: Server) -> None:
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    assert admin_json(server, "show", task_id) == server.task(task_id)
    events = admin_json(server, "history", task_id)
    assert events == server.history(task_id)
    assert [e["seq"] for e in events] == list(range(1, 12))


def test_history_follow_streams_until_the_task_is_running(server: Server) -> None:
    task_id = server.create().body["id"]
    done = admin(server, "history", task_id, "--follow", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, 12))  # no gap, no duplicate
    assert events[-1]["kind"] == "task.initialized"


def test_unknown_task_exits_3(server: Server) -> None:
    for command in ("show", "history", "resume", "retry"):
        done = admin(server, command, "f" * 22)
        assert done.returncode == 3, (command, done.stderr)


def test_resume_skips_a_pending_backoff_and_retry_restarts_a_failed_task(failing: Server) -> None:
    task_id = failing.create().body["id"]
    wait_until(lambda: failing.task(task_id)["steps"][0]["status"] == "retrying")
    report = admin_json(failing, "status")
    assert task_id in {r["task_id"] for r in report["pending_retries"]}

    resumed = admin_json(failing, "resume", task_id)  # attempt 2 now, not in a minute: it fails for good
    assert resumed["changed"] is True
    failing.wait_status(task_id, {"error"}, timeout=30)
    refused = admin(failing, "resume", task_id, "--json")  # at rest
    assert refused.returncode == 4 and json.loads(refused.stdout)["error"]["status"] == 409

    retried = admin_json(failing, "retry", task_id)
    assert retried["changed"] is True
    wait_until(lambda: failing.task(task_id)["steps"][0]["status"] == "retrying")
    user_retries = [e for e in failing.history(task_id) if e["data"].get("source") == "user"]
    assert [e["kind"] for e in user_retries] == ["task.retry"]
    assert failing.task(task_id)["error"] is None


def test_retry_of_a_task_not_in_error_is_refused(server: Server) -> None:
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    done = admin(server, "retry", task_id, "--json")
    assert done.returncode == 4
    assert json.loads(done.stdout)["error"]["details"]["status"] == "running"


def test_drain_lets_steps_finish_then_stops_and_a_restart_completes_every_task(make_server: Any) -> None:
    """Drain mid-provisioning: health says draining and writes get 503 meanwhile; the server exits 0
    with no actor process left; after a restart every task reaches running."""
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=1500).start()
    server.register(make_repo(server.data.parent / "repo"))
    ids = [server.create().body["id"] for _ in range(4)]
    wait_until(lambda: all(server.task(t)["status"] == "init_create_sandbox" for t in ids))
    assert server.proc
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.admin", "--data-dir", str(server.data), "drain", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: server.get("/v1/health").status == 503, timeout=10)
    assert server.get("/v1/health").body == {"status": "draining"}
    refused = server.create()
    assert refused.status == 503 and refused.headers.get("Retry-After")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and json.loads(out)["stopped"] is True
    assert server.proc.wait(10) == 0
    server.proc = None
    assert server.actor_processes() == []
    steps = [server_steps(server.data, t) for t in ids]
    assert all(s["init_create_sandbox"] == "done" for s in steps)  # the steps in flight finished
    assert all(s["init_ensure_agent"] == "pending" for s in steps)  # and no new one started

    server.start()
    for task_id in ids:
        server.wait_status(task_id, {"running"}, timeout=60)
        assert [e["seq"] for e in server.history(task_id)] == list(range(1, 12))


def server_steps(data: Path, task_id: str) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(f"file:{data / 'tasks' / (task_id + '.sqlite')}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT name, status FROM steps").fetchall())


def test_archive_kill_and_delete_from_the_admin_script(server: Server) -> None:
    archived, killed = (server.create().body["id"] for _ in range(2))
    server.wait_status(archived, {"running"})
    done = admin_json(server, "archive", archived)
    assert done["changed"] is True and done["status"].startswith("archive")
    server.wait_status(archived, {"archived"})
    assert admin_json(server, "kill", killed)["changed"] is True
    server.wait_status(killed, {"killed"})
    assert admin(server, "kill", killed).returncode == 4  # killed already: refused
    assert admin_json(server, "delete", archived)["status"] == "deleted"
    assert admin(server, "show", archived).returncode == 3


def test_resume_all_skips_every_pending_backoff_with_one_result_per_task(failing: Server) -> None:
    ids = [failing.create().body["id"] for _ in range(3)]
    for task_id in ids:
        wait_until(lambda t=task_id: failing.task(t)["steps"][0]["status"] == "retrying")
    results = admin_json(failing, "resume", "--all")
    assert {r["task_id"] for r in results} >= set(ids)
    assert all(r["changed"] for r in results if r["task_id"] in ids)
    assert admin(failing, "resume").returncode == 2  # neither ids nor --all


def test_the_admin_acts_on_a_task_whose_workspace_is_asleep(make_server: Any) -> None:
    """A workspace with nothing live leaves memory after its idle timeout; a command for one of its
    tasks wakes it, as any message does, rather than finding no workspace."""
    server: Server = make_server("sim", CRUCIBLE_SIM_STEP_MS="20", CRUCIBLE_IDLE_TIMEOUT_S="0.5").start()
    server.register(make_repo(server.data.parent / "repo"))
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    wait_until(lambda: admin_json(server, "status")["actors"].get("workspace", 0) == 0, timeout=30)
    assert admin_json(server, "archive", task_id)["changed"] is True
    server.wait_status(task_id, {"archived"})
