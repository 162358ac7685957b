"""kill -9 of the server's process group and every actor process, mid-provisioning, then a restart:
every task reaches `running` with exactly one of each side effect and one result event per step."""

import collections
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from actors.providers.sim import effects_log
from tests.server import RESULT_KINDS, Server, agents_under, wait_until

pytestmark = pytest.mark.integration
STEPS = ["init_ensure_name", "init_create_sandbox", "init_ensure_agent", "init_create_session"]


def assert_history_is_exact(server: Server, task_id: str) -> None:
    """Contiguous, one result event per step, and (a local task's conversation, after `running`) no
    message of the agent's stream recorded twice."""
    events = server.history(task_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "seq must be contiguous"
    steps = [e["kind"] for e in events if not e["kind"].startswith("session.")]
    assert [kind for kind in steps if kind != "task.status"] == RESULT_KINDS  # one per step
    heard = [(e["data"]["agent_run"], e["data"]["acp_id"]) for e in events if e["kind"] == "session.update"]
    assert len(heard) == len(set(heard)), "an agent's message recorded twice"


def assert_each_runs_with_each_effect_once(server: Server, ids: list[str]) -> None:
    """Every task reaches `running` with an exact history, and the sim made each of its effects once."""
    for task_id in ids:
        assert server.wait_status(task_id, {"running", "error"})["status"] == "running"
        assert_history_is_exact(server, task_id)
    effects = collections.Counter(
        (e["task_id"], e["effect"])
        for e in map(json.loads, effects_log(server.data).read_text().splitlines())
    )
    assert set(effects.values()) == {1}
    assert {t for t, _ in effects} == set(ids)


def test_sim_tasks_survive_a_kill_inside_every_step(make_server, repo, tmp_path):
    """Four crashes, each landing while the newest task is inside a different provisioning step."""
    data = tmp_path / "data"
    ids: list[str] = []
    for target in STEPS:
        server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=400).start()
        if not ids:
            assert server.register(repo).status == 201
        ids += [server.create({"prompt": f"task {len(ids) + i}"}).body["id"] for i in range(2)]
        newest = ids[-1]
        wait_until(lambda s=server, t=target, n=newest: s.task(n)["status"] == t)
        server.kill9()
        assert server.actor_processes() == []
    server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=400).start()
    assert_each_runs_with_each_effect_once(server, ids)
    listed = lambda: {t["id"]: t["status"] for t in server.get("/v1/workspaces/default/tasks").body["tasks"]}  # noqa: E731
    wait_until(lambda: listed() == dict.fromkeys(ids, "running"))  # the projection agrees with the databases


@pytest.mark.parametrize("delay_ms", [0, 40, 80, 120])
def test_local_tasks_survive_a_kill_mid_provisioning(make_server, repo, tmp_path, delay_ms):
    data = tmp_path / "data"
    server = make_server("local", data=data).start()
    assert server.register(repo).status == 201
    ids = [server.create({"prompt": f"task {i}"}).body["id"] for i in range(3)]
    time.sleep(delay_ms / 1000)
    statuses = [server.task(t)["status"] for t in ids]
    server.kill9()
    assert any(s != "running" for s in statuses), "the kill must land mid-provisioning"
    server = make_server("local", data=data).start()
    records = [server.wait_status(t, {"running", "error"}, timeout=90) for t in ids]
    assert [r["status"] for r in records] == ["running"] * 3, (statuses, [r["error"] for r in records])
    agents = agents_under(data)
    assert sorted(p.environ()["CRUCIBLE_TASK_ID"] for p in agents) == sorted(ids), "one agent per task"
    for record in records:
        assert_history_is_exact(server, record["id"])
        with urllib.request.urlopen(f"{record['agent_endpoint']}/v1/acp", timeout=5) as resp:
            servers = json.load(resp)["servers"]
        assert [s["serverId"] for s in servers] == [record["id"]], "one ACP server per task"
    assert sorted(p.name for p in (data / "sandboxes").iterdir()) == sorted(ids), "one checkout per task"
    assert not list((data / "tmp").glob("sandbox-*")), "no half-made checkout left"


def runner_pids(data: Path) -> list[int]:
    lines = (data / "logs" / "actors.log").read_text().splitlines()
    return [e["pid"] for e in map(json.loads, lines) if e.get("event") == "runner.started"]


def test_a_dead_runner_stops_the_server_and_the_restart_resumes_its_tasks(make_server, repo, tmp_path):
    """A runner killed -9 takes the actors it hosted with it: the server stops on its own, with exit
    code 3 and `runner.died` in its log, leaving no actor process; started again, every task provisions,
    each side effect once."""
    data = tmp_path / "data"
    server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
    server.register(repo)
    ids = [server.create({"prompt": f"task {i}"}).body["id"] for i in range(4)]
    os.kill(runner_pids(data)[0], signal.SIGKILL)
    assert server.proc and server.proc.wait(30) == 3
    assert "runner.died" in server.log.read_text()
    wait_until(lambda: server.actor_processes() == [], timeout=10)
    server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
    assert_each_runs_with_each_effect_once(server, ids)
