"""Multi-host rules that need no running convention: which addresses may carry actor traffic, where a
new task goes, and what a stranded task says."""

from pathlib import Path

import pytest
from thespian.actors import ActorSystemConventionUpdate

from actors.cluster.actor import ClusterActor
from actors.runtime import hosts, loopback
from schemas.cluster_messages import Host, Hosts, WatchHosts


@pytest.mark.parametrize(
    ("address", "allow", "refused"),
    [
        ("10.0.0.5", False, None),
        ("192.168.1.20", False, None),
        ("127.0.0.1", False, None),
        ("8.8.8.8", False, "is public"),
        ("8.8.8.8", True, None),
        ("0.0.0.0", True, "every interface"),
        ("::1", False, "not IPv4"),
        ("leader.example", False, "not an IP address"),
    ],
)
def test_only_private_ipv4_addresses_carry_actor_traffic_unless_allowed(address, allow, refused):
    reason = loopback.refuse_public(address, allow)
    assert (reason is None) if refused is None else (refused in (reason or ""))


def test_an_actor_bound_to_a_host_runs_only_there():
    check = hosts.HostBound.actorSystemCapabilityCheck
    assert check({hosts.HOST: "w1"}, hosts.on_host("w1"))
    assert not check({hosts.HOST: "w2"}, hosts.on_host("w1"))
    assert not check({}, hosts.on_host("w1"))  # the leader of a plain system has no worker name
    assert check({hosts.HOST: "leader"}, {})  # no requirement: the creator's own system


def cluster_with(
    loads: dict[str, int], capacities: dict[str, int], down: tuple[str, ...] = ()
) -> ClusterActor:
    cluster = ClusterActor()
    cluster.hosts = {
        name: Host(name=name, data=Path("/data") / name, capacity=cap, up=name not in down)
        for name, cap in {"leader": 0, **capacities}.items()
    }
    cluster.load = dict(loads)
    return cluster


def test_a_new_task_goes_to_the_up_worker_with_the_most_free_capacity():
    cluster = cluster_with({"w1": 2, "w2": 1}, {"w1": 4, "w2": 4})
    assert cluster._choose() == "w2"
    cluster = cluster_with({"w1": 1, "w2": 3}, {"w1": 2, "w2": 10})  # 50% against 30% full
    assert cluster._choose() == "w2"


def test_full_or_lost_workers_leave_new_tasks_to_the_leader():
    assert cluster_with({"w1": 4}, {"w1": 4})._choose() == "leader"
    assert cluster_with({}, {"w1": 4}, down=("w1",))._choose() == "leader"
    assert cluster_with({}, {})._choose() == "leader"


def test_a_stranded_task_keeps_its_status_and_says_why_it_stalls():
    summary = {"id": "t", "host": "w1", "status": "init_create_sandbox", "status_message": "creating sandbox"}
    assert hosts.stranded(summary, "") == summary
    stranded = hosts.stranded(summary, "2026-11-27T07:00:00.000Z")
    assert stranded["status"] == "init_create_sandbox"
    assert stranded["status_message"].startswith("worker w1 unreachable since 2026-11-27T07:00:00.000Z")


def test_a_host_change_reaches_each_project_once_at_its_latest_actor():
    """A project's actor made again (it passivated) replaces the one before: the cluster does not keep
    writing to every actor a project ever had."""
    cluster = cluster_with({}, {})
    sent: list[tuple[str, object]] = []
    cluster.send = lambda addr, msg: sent.append((addr, msg))  # type: ignore[method-assign]
    cluster.receiveMsg_WatchHosts(WatchHosts(project="ws/demo"), "demo-1")
    cluster.receiveMsg_WatchHosts(WatchHosts(project="ws/other"), "other-1")
    cluster.receiveMsg_WatchHosts(WatchHosts(project="ws/demo"), "demo-2")
    sent.clear()
    caps = {hosts.HOST: "w1", hosts.DATA: "/data/w1", hosts.CAPACITY: 4}
    cluster.receiveMsg_ActorSystemConventionUpdate(ActorSystemConventionUpdate("w1-admin", caps), "admin")
    assert sorted(addr for addr, msg in sent if isinstance(msg, Hosts)) == ["demo-2", "other-1"]
