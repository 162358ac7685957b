"""Multi-host on one machine: a leader and two workers, each its own process group, data directory and
actor port, joined in one thespian convention."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from actors.providers import agent_process as agents
from actors.providers.sim import effects_log
from actors.runtime import loopback
from actors.task.store import task_db_path
from tests.helpers.admin import admin_json
from tests.helpers.network import non_loopback_ipv4
from tests.server import RESULT_KINDS, ROOT, Server, Worker, agents_under, make_repo, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Server, Worker, Worker]]:
    leader = Server(tmp_path / "leader", "sim", {"CRUCIBLE_SIM_STEP_MS": "400"})
    workers = [Worker(leader, tmp_path / name, name, capacity=3) for name in ("w1", "w2")]
    try:
        leader.start()
        assert leader.register(make_repo(tmp_path / "repo")).status == 201
        for worker in workers:
            worker.start()
        yield leader, workers[0], workers[1]
    finally:
        for worker in workers:
            worker.cleanup()
        leader.cleanup()


def create(leader: Server, count: int) -> list[str]:
    ids = []
    for i in range(count):
        response = leader.create({"prompt": f"task {i}"})
        assert response.status == 201, response.body
        ids.append(response.body["id"])
    return ids


def hosts_of(leader: Server) -> dict[str, str]:
    tasks = leader.get("/v1/workspaces/default/tasks?limit=100").body["tasks"]
    return {t["id"]: t["host"] for t in tasks}


def duplicates(data: Path) -> int:
    if not effects_log(data).exists():
        return 0
    effects = [json.loads(line) for line in effects_log(data).read_text().splitlines()]
    return len(effects) - len({(e["task_id"], e["effect"]) for e in effects})


def test_tasks_spread_over_workers_by_capacity_and_live_where_placed(cluster):
    """Workers fill by free capacity; past it the leader holds tasks; each database is on its host."""
    leader, w1, w2 = cluster
    ids = create(leader, 8)
    for task_id in ids:
        assert leader.wait_status(task_id, {"running"})["status"] == "running"
    placed = hosts_of(leader)
    counts = {h: list(placed.values()).count(h) for h in ("w1", "w2", "leader")}
    assert counts == {"w1": 3, "w2": 3, "leader": 2}
    homes = {"w1": w1.data, "w2": w2.data, "leader": leader.data}
    for task_id, host in placed.items():
        assert task_db_path(homes[host], task_id).exists()
        others = [d for h, d in homes.items() if h != host]
        assert not any(task_db_path(d, task_id).exists() for d in others)
        events = leader.history(task_id)  # read by the task's actor on its host
        assert [e["kind"] for e in events if e["kind"] != "task.status"] == RESULT_KINDS
        assert leader.task(task_id)["id"] == task_id
    listed = {h["name"]: h for h in leader.get("/v1/hosts").body["hosts"]}
    assert {n: (h["up"], h["tasks"]) for n, h in listed.items() if n != "leader"} == {
        "w1": (True, 3),
        "w2": (True, 3),
    }


async def test_a_websocket_replays_and_streams_a_task_on_a_worker(cluster):
    leader, _, _ = cluster
    task_id = create(leader, 1)[0]
    assert hosts_of(leader)[task_id] in ("w1", "w2")
    frames: list[dict[str, Any]] = []
    url = f"ws://127.0.0.1:{leader.port}/v1/tasks/{task_id}/events?since=0"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async with asyncio.timeout(60):
            async for msg in ws:
                frames.append(json.loads(msg.data))
                if frames[-1]["kind"] == "task.initialized":
                    break
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert frames == leader.history(task_id)


def test_kill9_of_a_worker_mid_provisioning_strands_its_tasks_visibly_until_it_rejoins(cluster):
    leader, w1, w2 = cluster
    ids = create(leader, 6)
    on_w1 = [t for t, h in hosts_of(leader).items() if h == "w1"]
    assert len(on_w1) == 3
    wait_until(lambda: all(leader.task(t)["status"] == "init_create_sandbox" for t in on_w1), timeout=30)
    w1.kill9()
    wait_until(lambda: not w1.host()["up"], timeout=30)

    def listed() -> dict[str, dict[str, Any]]:
        return {t["id"]: t for t in leader.get("/v1/workspaces/default/tasks").body["tasks"]}

    # The cluster reports the host down first; the projection hears of it from the project just after.
    wait_until(lambda: all("unreachable" in listed()[t]["status_message"] for t in on_w1), timeout=10)
    stranded = listed()
    for task_id in on_w1:
        assert "worker w1 unreachable" in stranded[task_id]["status_message"]
        assert stranded[task_id]["status"] == "init_create_sandbox"  # its own status is kept
        refused = leader.get(f"/v1/tasks/{task_id}")
        assert (refused.status, refused.body["error"]["code"]) == (503, "host_unreachable")
    w1.start()
    wait_until(lambda: all(leader.get(f"/v1/tasks/{t}").status == 200 for t in on_w1), timeout=30)
    for task_id in ids:
        assert leader.wait_status(task_id, {"running", "error"})["status"] == "running"
    assert all(
        "unreachable" not in t["status_message"]
        for t in leader.get("/v1/workspaces/default/tasks").body["tasks"]
    )
    assert duplicates(w1.data) == 0 and duplicates(w2.data) == 0
    for task_id in on_w1:  # the step cut by the kill ran again, once, after the rejoin
        created = [e for e in leader.history(task_id) if e["kind"] == "task.sandbox"]
        assert len(created) == 1


def test_kill9_of_the_leader_mid_provisioning_resumes_every_task_on_every_host(cluster):
    """The restarted leader knows nothing of its old actors on the workers: they restart theirs too."""
    leader, w1, w2 = cluster
    ids = create(leader, 8)
    # Every task named and placed; not all at one step at once, which a slow machine's creates, spread
    # over more than a step, never reach.
    past_naming = {"init_create_sandbox", "init_ensure_agent", "init_create_session", "running"}
    wait_until(lambda: all(leader.task(t)["status"] in past_naming for t in ids), timeout=30)
    placed = hosts_of(leader)
    assert {leader.task(t)["status"] for t in ids} != {"running"}  # the kill is mid-provisioning
    leader.kill9()
    leader.start()
    wait_until(lambda: all(leader.get(f"/v1/tasks/{t}").status == 200 for t in ids), timeout=60)
    for task_id in ids:
        assert leader.wait_status(task_id, {"running", "error"})["status"] == "running"
    assert hosts_of(leader) == placed  # sticky: nothing moved
    assert duplicates(w1.data) == duplicates(w2.data) == duplicates(leader.data) == 0
    for worker in (w1, w2):  # each notices within its 2 s probe (its orphan actors may finish tasks first)
        wait_until(lambda w=worker: "worker.leader_restarted" in w.log.read_text(), timeout=30)


def test_the_admin_script_sees_tasks_on_every_host(cluster):
    leader, _, _ = cluster
    ids = create(leader, 7)
    for task_id in ids:
        leader.wait_status(task_id, {"running"})
    listed = admin_json(leader, "tasks")
    assert {t["host"] for t in listed} == {"w1", "w2", "leader"}
    for task_id in ids:
        assert admin_json(leader, "show", task_id) == leader.task(task_id)
        assert admin_json(leader, "history", task_id) == leader.history(task_id)
    archived = admin_json(leader, "archive", ids[0])
    assert archived["status"] in ("archive_release_sandbox", "archive_finalize", "archived")
    assert leader.wait_status(ids[0], {"archived"})["status"] == "archived"


def test_on_a_cluster_address_every_actor_socket_listens_there_only(tmp_path, repo):
    address = non_loopback_ipv4()
    if address is None or loopback.refuse_public(address, allow_public=False):
        pytest.skip("this machine has no private non-loopback IPv4 address")
    leader = Server(
        tmp_path / "leader", "sim", {"CRUCIBLE_SIM_STEP_MS": "50"}, ("--cluster-address", address)
    )
    worker = Worker(leader, tmp_path / "w1", "w1", capacity=2, address=address)
    try:
        leader.start()
        assert leader.register(repo).status == 201
        worker.start()
        task_id = create(leader, 1)[0]
        assert leader.wait_status(task_id, {"running"})["status"] == "running"
        assert hosts_of(leader)[task_id] == "w1"
        assert admin_json(leader, "show", task_id)["status"] == "running"  # the admin reaches it there
        pids = {p.pid for p in leader.actor_processes() + worker.actor_processes()}
        listening = [
            c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids
        ]
        assert len(listening) >= 6
        assert {c.laddr.ip for c in listening} == {address}
    finally:
        worker.cleanup()
        leader.cleanup()


@pytest.fixture
def local_pair(tmp_path: Path, repo: Path) -> Iterator[tuple[Server, Worker]]:
    """A leader and one worker (capacity 1), local provider: real checkouts and agents."""
    leader = Server(tmp_path / "leader", "local")
    worker = Worker(leader, tmp_path / "w1", "w1", capacity=1)
    try:
        leader.start()
        assert leader.register(repo).status == 201
        worker.start()
        yield leader, worker
    finally:
        worker.cleanup()
        leader.cleanup()


def test_a_worker_holds_real_checkouts_and_agents_with_the_local_provider(local_pair):
    leader, worker = local_pair
    task_id = create(leader, 1)[0]
    record = leader.wait_status(task_id, {"running", "error"}, timeout=120)
    assert record["status"] == "running", record["status_message"]
    assert hosts_of(leader)[task_id] == "w1"
    checkout = Path(record["sandbox"]["path"])
    assert checkout.is_relative_to(worker.data / "sandboxes")
    assert (checkout / "README.md").read_text() == "hello\n"
    assert [a.cwd() for a in agents_under(worker.data)] == [str(checkout)]
    assert agents_under(leader.data) == []
    assert (worker.data / "repos" / "default" / "demo.git" / "HEAD").exists()  # the worker's mirror
    assert leader.post(f"/v1/tasks/{task_id}/archive").status == 202
    assert leader.wait_status(task_id, {"archived"}, timeout=60)["status"] == "archived"
    assert agents_under(worker.data) == [] and not checkout.exists()


def test_a_worker_that_rejoins_revives_the_agents_of_its_running_tasks(local_pair):
    """The worker's machine went down with its agents: when it rejoins, its running task gets a new agent
    and session there (`restarted`), as the leader's tasks do at the leader's start."""
    leader, worker = local_pair
    task_id = create(leader, 1)[0]
    assert leader.wait_status(task_id, {"running", "error"}, timeout=120)["status"] == "running"
    [old] = agents_under(worker.data)
    worker.kill9()
    os.killpg(old.pid, signal.SIGKILL)  # agents have sessions of their own: a reboot takes them too
    worker.start()

    def restarted() -> list[str]:
        response = leader.get(f"/v1/tasks/{task_id}/history?limit=1000")
        events = response.body["events"] if response.status == 200 else []
        return [e["kind"] for e in events if e["data"].get("restarted")]

    wait_until(lambda: restarted() == ["task.agent", "task.session"], timeout=90)
    record = leader.wait_status(task_id, {"running", "error"}, timeout=60)
    assert record["status"] == "running", record["status_message"]
    [new] = agents_under(worker.data)
    assert new.pid != old.pid and new.environ()["CRUCIBLE_TASK_ID"] == task_id
    assert record["agent_endpoint"].endswith(f":{agents.port_of(new)}")


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["serve", "--cluster-address", "8.8.8.8"], "is public"),
        (["serve", "--cluster-address", "0.0.0.0"], "every interface"),
        (["worker", "--leader", "127.0.0.1:1", "--name", "leader"], "must not be 'leader'"),
    ],
)
def test_unsafe_cluster_settings_are_refused_before_anything_starts(tmp_path, command, reason):
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", *command, "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert reason in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()
