"""The crash matrix: a real server (local provider) stopped at every crash point of every provisioning
step — before the step, after its side effect but before its persist, after its persist — then every
process `kill -9`ed, the server restarted, and the invariants of docs/guarantees.md checked."""

import asyncio
import json
import urllib.request
from collections import Counter

import pytest

from actors.faults import MARKER
from actors.providers import acp
from tests.server import RESULT_KINDS, Server, agents_under, wait_until

STEPS = ["init_ensure_name", "init_create_sandbox", "init_ensure_agent", "init_create_session", "running"]
POINTS = ["before", "after_effect", "after_persist"]


def acp_servers(endpoint: str) -> list[str]:
    with urllib.request.urlopen(f"{endpoint}/v1/acp", timeout=5) as resp:
        return [s["serverId"] for s in json.load(resp)["servers"]]


# What the agent received, once each, whatever the crash: the mock agent echoes every request.
ONE_SESSION = {"initialize": 1, "session/new": 1, "session/prompt": 1}


def requests_seen(endpoint: str, server: str) -> dict[str, int]:
    """The requests the agent received, by method, from its stream (the mock echoes each one)."""
    echoed = [
        m["params"]["message"]
        for m in asyncio.run(acp.replay(endpoint, server, 5.0))
        if m.get("method") == "mock/echo"
    ]
    return dict(Counter(e["method"] for e in echoed if "method" in e))


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_every_point_of_every_step_is_survived(make_server, repo, step, point):
    server: Server = make_server("local", CRUCIBLE_CRASH_AT=f"{step}:{point}").start()
    server.register(repo)
    task_id = server.create({"prompt": f"crash at {step}:{point}"}).body["id"]
    wait_until(lambda: (server.data / MARKER).exists(), timeout=60)
    server.kill9()
    del server.env["CRUCIBLE_CRASH_AT"]
    (server.data / MARKER).unlink()
    server.start()

    record = server.wait_status(task_id, {"running"}, timeout=90)
    history = server.history(task_id)
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))  # contiguous
    kinds = Counter(e["kind"] for e in history)
    assert all(kinds[k] == 1 for k in RESULT_KINDS), kinds  # one result event per step
    assert [p.environ()["CRUCIBLE_TASK_ID"] for p in agents_under(server.data)] == [task_id]  # one agent
    assert acp_servers(record["agent_endpoint"]) == [task_id]  # one ACP server
    assert requests_seen(record["agent_endpoint"], task_id) == ONE_SESSION  # one session, one prompt
    assert [p.name for p in (server.data / "sandboxes").iterdir()] == [task_id]  # one checkout
    assert not (server.data / "tmp" / f"sandbox-{task_id}").exists()

    def projected() -> list[tuple[str, str, int]]:  # the projection agrees with the task database
        tasks = server.get("/v1/workspaces/default/tasks").body["tasks"]
        return [(t["id"], t["status"], t["seq"]) for t in tasks]

    wait_until(lambda: projected() == [(task_id, "running", server.task(task_id)["seq"])], timeout=10)
