"""The fences around a data directory and an actor system (one server per data directory, a stale
system ended at restart, actor sockets on loopback), and the thespian facts they rest on."""

import json
import os
import signal
import socket
import sqlite3
from pathlib import Path

import psutil
import pytest

from tests.helpers.network import non_loopback_ipv4
from tests.server import Server, wait_until

pytestmark = pytest.mark.integration


def last_seq(data: Path, task_id: str) -> int:
    """The task's last event, read from its database (the web process may be gone)."""
    with sqlite3.connect(f"file:{data / 'tasks' / (task_id + '.sqlite')}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def test_a_second_server_on_the_same_data_dir_is_refused_and_the_first_goes_on(make_server, repo):
    """The first server's actors are no stale leftovers to end: every one lives on and still works."""
    first = make_server("sim", CRUCIBLE_SIM_STEP_MS=1).start()
    assert first.register(repo).status == 201
    actors = first.actor_processes()
    second = Server(first.data, "sim")
    second.start(wait=False)
    assert second.proc is not None
    assert second.proc.wait(30) == 1
    assert "serve.refused" in second.log.read_text()
    assert all(p.is_running() for p in actors) and first.actor_processes() == actors
    first.wait_status(first.create().body["id"], {"running"}, timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_cleanly_with_no_actor_process_left(make_server, repo, sig):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=1).start()
    assert server.register(repo).status == 201
    server.wait_status(server.create().body["id"], {"running"})
    actors = server.actor_processes()
    assert len(actors) >= 4  # admin, logger, workspace, project, mirror, task actors
    assert server.proc is not None
    os.kill(server.proc.pid, sig)
    assert server.proc.wait(30) == 0
    server.proc = None
    _, alive = psutil.wait_procs(actors, timeout=5)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []


def test_a_stop_right_after_start_up_ends_every_actor_through_thespian_and_kills_none(
    make_server, repo, tmp_path
):
    """Actors are still starting then (a project, its mirror): thespian's shutdown must still confirm;
    it once waited 2 s and killed the new actors (5 stops in 6)."""
    first = make_server("sim", data=tmp_path / "data").start()
    assert first.register(repo).status == 201
    assert first.stop() == 0
    server = make_server("sim", data=tmp_path / "data")
    server.start(wait=False)
    server.wait_ready(poll=0.01)  # stopped as soon as it is ready
    assert server.stop() == 0
    stopped = [json.loads(line) for line in server.log.read_text().splitlines() if "serve.stopped" in line]
    assert stopped[-1]["leftover_actor_processes"] == 0


def test_a_stale_system_left_by_a_killed_server_is_ended_at_restart(make_server, repo, tmp_path):
    data = tmp_path / "data"
    server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
    assert server.register(repo).status == 201
    task_id = server.create().body["id"]
    stale = server.actor_processes()
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)  # the server alone: its daemonized actors live on
    server.proc.wait(10)
    server.proc = None
    at_kill = last_seq(data, task_id)
    # The orphaned system goes on provisioning the task: an event committed after the server's death.
    wait_until(lambda: last_seq(data, task_id) > at_kill, timeout=30)
    assert all(p.is_running() for p in stale), "thespian's actors outlive a kill -9 of the server"
    restarted = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
    assert restarted.wait_status(task_id, {"running", "error"})["status"] == "running"
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in stale)
    assert {p.pid for p in stale}.isdisjoint({p.pid for p in restarted.actor_processes()})


def test_actor_sockets_listen_on_loopback_only(make_server, repo):
    server = make_server("sim").start()
    assert server.register(repo).status == 201
    pids = {p.pid for p in server.actor_processes()}
    listening = [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 4
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.settimeout(5)
        probe.connect((address, server.actor_port))
