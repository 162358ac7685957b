"""After `running`: the agent's ACP stream recorded as `session.update` events, follow-up prompts as
`session.prompt`, each sent to the agent at most once, live over websockets and across kill -9; on real
servers with the local provider and sandbox-agent's mock agent, which echoes every call."""

import asyncio
import json
from collections import Counter
from typing import Any

import aiohttp
import pytest

from actors.faults import MARKER
from actors.providers import acp
from tests.helpers.admin import admin, admin_json
from tests.server import Server, wait_until

pytestmark = pytest.mark.integration


def conversation(server: Server, task_id: str) -> list[dict[str, Any]]:
    return [e for e in server.history(task_id) if e["kind"].startswith("session.")]


def echoes(server: Server, task_id: str, message_id: str) -> list[dict[str, Any]]:
    """What the agent itself holds of one follow-up: its echo of our session/prompt call."""
    endpoint = server.task(task_id)["agent_endpoint"]
    request_id = f"crucible-prompt-{message_id}"
    return [
        m
        for m in asyncio.run(acp.replay(endpoint, task_id, timeout=5.0))
        if m.get("method") == "mock/echo" and m["params"]["message"].get("id") == request_id
    ]


def assert_recorded_once(server: Server, task_id: str) -> None:
    """No (agent_run, acp_id) twice in the history, and its seq has no gap."""
    events = server.history(task_id)
    heard = Counter(
        (e["data"]["agent_run"], e["data"]["acp_id"]) for e in events if e["kind"] == "session.update"
    )
    assert heard and max(heard.values()) == 1, heard
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def say(server: Server, task_id: str, text: str, **headers: str) -> Any:
    return server.post(f"/v1/tasks/{task_id}/messages", {"text": text}, headers=headers)


def test_a_follow_up_reaches_the_agent_once_and_its_echo_comes_back_live(make_server, repo):
    server = make_server("local").start()
    server.register(repo)
    task_id = server.wait_status(server.create({"prompt": "hello"}).body["id"], {"running"}, timeout=90)["id"]
    wait_until(lambda: len(conversation(server, task_id)) >= 6, timeout=30)  # the replay of provisioning

    async def live() -> tuple[Any, list[dict[str, Any]]]:
        url = f"ws://127.0.0.1:{server.port}/v1/tasks/{task_id}/events"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            answer = await asyncio.to_thread(
                say, server, task_id, "now the tests", **{"Idempotency-Key": "k"}
            )
            frames: list[dict[str, Any]] = []
            while len([f for f in frames if f["kind"] == "session.update"]) < 2:
                frames.append(json.loads((await ws.receive(timeout=30)).data))
            return answer, frames

    answer, frames = asyncio.run(live())
    assert answer.status == 202
    message_id = answer.body["message_id"]
    assert frames[0]["kind"] == "session.prompt" and frames[0]["data"] == {
        "message_id": message_id,
        "text": "now the tests",
    }
    assert f"crucible-prompt-{message_id}" in json.dumps(frames[1]["data"]["message"])
    replay = say(server, task_id, "now the tests", **{"Idempotency-Key": "k"})
    assert (replay.status, replay.body) == (200, {"message_id": message_id})
    assert say(server, task_id, "another text", **{"Idempotency-Key": "k"}).status == 409
    assert len(echoes(server, task_id, message_id)) == 1
    prompts = [e for e in conversation(server, task_id) if e["kind"] == "session.prompt"]
    assert [p["data"]["text"] for p in prompts] == ["now the tests"]
    assert_recorded_once(server, task_id)


def test_the_admin_script_says_and_its_history_shows_the_conversation(make_server, repo):
    """`say` sends a follow-up as the API does; `history` prints the prompt and the agent's echo in a
    line each."""
    server = make_server("local").start()
    server.register(repo)
    task_id = server.wait_status(server.create({"prompt": "hello"}).body["id"], {"running"}, timeout=90)["id"]
    said = admin_json(server, "say", task_id, "from the admin")
    wait_until(lambda: len(echoes(server, task_id, said["message_id"])) == 1, timeout=30)
    wait_until(lambda: f"crucible-prompt-{said['message_id']}" in json.dumps(conversation(server, task_id)))
    shown = admin(server, "history", task_id).stdout
    assert "> from the admin" in shown and "mock/echo" in shown
    assert admin(server, "say", task_id, "").returncode != 0  # refused: nothing said


def test_a_kill_while_the_agent_talks_then_a_restart_records_each_message_once(make_server, repo):
    """kill -9 right after a follow-up is durable, while its echo streams: after the restart the stream
    resumes after the last message recorded, and no prompt reaches the agent twice."""
    server = make_server("local").start()
    server.register(repo)
    task_id = server.wait_status(server.create({"prompt": "hello"}).body["id"], {"running"}, timeout=90)["id"]
    first = say(server, task_id, "before the kill").body["message_id"]
    server.kill9()
    server.start()
    second = say(server, task_id, "after the restart").body["message_id"]
    wait_until(lambda: len(echoes(server, task_id, second)) == 1, timeout=30)
    wait_until(lambda: f"crucible-prompt-{second}" in json.dumps(conversation(server, task_id)), timeout=30)
    assert len(echoes(server, task_id, first)) <= 1  # at most once: it may have been lost in the kill
    assert len(echoes(server, task_id, second)) == 1
    assert_recorded_once(server, task_id)


def test_a_kill_between_a_follow_ups_commit_and_its_send_sends_it_once_after_the_restart(make_server, repo):
    """Committed and answered, the prompt is not yet marked sent when everything is killed: the restart
    activates the running task (its agent lives), which sends it, once."""
    server = make_server("local", CRUCIBLE_CRASH_AT="say:before_send").start()
    server.register(repo)
    task_id = server.wait_status(server.create({"prompt": "hello"}).body["id"], {"running"}, timeout=90)["id"]
    answer = say(server, task_id, "across the kill")
    assert answer.status == 202
    wait_until(lambda: (server.data / MARKER).exists(), timeout=30)
    assert echoes(server, task_id, answer.body["message_id"]) == []  # not sent before the kill
    server.kill9()
    del server.env["CRUCIBLE_CRASH_AT"]
    (server.data / MARKER).unlink()
    server.start()
    wait_until(lambda: len(echoes(server, task_id, answer.body["message_id"])) == 1, timeout=30)
    prompts = [e for e in conversation(server, task_id) if e["kind"] == "session.prompt"]
    assert [p["data"]["text"] for p in prompts] == ["across the kill"]
    assert_recorded_once(server, task_id)


@pytest.mark.parametrize(
    ("body", "status"),
    [({"text": ""}, 422), ({"text": "x" * 100_001}, 422), ({"text": 7}, 422), ({}, 422), ([], 422)],
)
def test_bad_input_is_refused_and_changes_nothing(make_server, repo, body, status):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=0).start()
    server.register(repo)
    task_id = server.wait_status(server.create().body["id"], {"running"})["id"]
    before = server.history(task_id)
    answer = server.post(f"/v1/tasks/{task_id}/messages", body)
    assert answer.status == status and "error" in answer.body
    assert server.history(task_id) == before


def test_a_follow_up_to_an_unknown_task_or_one_not_running_is_refused(make_server, repo):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=60_000).start()
    server.register(repo)
    assert say(server, "0" * 22, "anyone?").status == 404
    task_id = server.create().body["id"]
    refused = say(server, task_id, "too early")
    assert refused.status == 409 and refused.body["error"]["details"]["status"].startswith("init_")
    assert not conversation(server, task_id)
