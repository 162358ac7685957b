"""The agent's conversation in the task's database, and follow-ups through the task actor: driven
without an actor system (the stream itself is tested against a real HTTP server, below)."""

import json

import pytest
from aiohttp import web

from actors.providers.acp import AcpStream, parse_event
from actors.task import conversation
from schemas.messages import Failure
from schemas.status import EventKind
from schemas.task_messages import MessageAccepted, TaskAction, TaskCommand
from tests.helpers.task_harness import CLIENT, PROJECT, FakeProvider, Harness


@pytest.fixture
def running(tmp_path, monkeypatch) -> Harness:
    harness = Harness(tmp_path, FakeProvider(), monkeypatch)
    harness.initialize()
    harness.pump()
    assert harness.record()["status"] == "running"
    return harness


def say(harness: Harness, text: str, key: str | None = None) -> object:
    command = TaskCommand(
        request_id="s1",
        task_id="0" * 22,
        action=TaskAction.say,
        text=text,
        idempotency_key=key,
        reply_to=CLIENT,
    )
    harness.actor.receiveMessage(command, PROJECT)
    replies = [m for a, m in harness.sent if a == CLIENT and getattr(m, "request_id", None) == "s1"]
    harness.sent = [(a, m) for a, m in harness.sent if m not in replies]
    harness.pump()
    return replies[-1]


def prompts(harness: Harness) -> list[dict[str, object]]:
    assert harness.actor.store
    rows = harness.actor.store.read(
        "SELECT data FROM events WHERE kind = ?", (EventKind.session_prompt.value,)
    )
    return [json.loads(r[0]) for r in rows]


def test_a_follow_up_is_durable_before_its_answer_and_sent_once(running):
    reply = say(running, "and now the tests")
    assert isinstance(reply, MessageAccepted) and reply.created
    assert prompts(running) == [{"message_id": reply.message_id, "text": "and now the tests"}]
    assert running.provider.calls.count("message:and now the tests") == 1
    assert running.actor.store and conversation.unsent(running.actor.store) == []


def test_the_same_key_and_text_give_the_same_message_and_another_text_is_a_conflict(running):
    first = say(running, "once", key="k1")
    again = say(running, "once", key="k1")
    assert isinstance(first, MessageAccepted) and isinstance(again, MessageAccepted)
    assert (again.message_id, again.created) == (first.message_id, False)
    other = say(running, "twice", key="k1")
    assert isinstance(other, Failure) and (other.status, other.code) == (409, "idempotency_conflict")
    assert len(prompts(running)) == 1 and running.provider.calls.count("message:once") == 1


def test_a_task_not_running_refuses_a_follow_up_with_its_status_and_records_nothing(tmp_path, monkeypatch):
    harness = Harness(tmp_path, FakeProvider(), monkeypatch)
    harness.initialize()  # provisioning: its first step not yet run
    reply = say(harness, "too early")
    assert isinstance(reply, Failure) and reply.status == 409
    assert reply.details == {"status": "init_enqueue_provision"}
    assert prompts(harness) == []


@pytest.mark.parametrize("text", ["", "x" * 100_001])
def test_an_empty_or_oversized_text_is_refused(running, text):
    reply = say(running, text)
    assert isinstance(reply, Failure) and reply.status == 422 and prompts(running) == []


def test_after_a_crash_a_prompt_not_yet_marked_sent_goes_once_and_one_marked_never_again(running):
    """At most once: a crash between the mark and the send loses that prompt rather than sending it
    twice; one committed but not marked goes at the next activation."""
    assert running.actor.store
    sent, _ = conversation.add_prompt(running.actor.store, "lost in the crash", None)
    conversation.mark_sent(running.actor.store, sent)
    conversation.add_prompt(running.actor.store, "still to send", None)
    running.crash()
    running.activate()
    assert "message:lost in the crash" not in running.provider.calls
    assert running.provider.calls.count("message:still to send") == 1


def test_each_burst_is_one_transaction_and_a_message_past_64_kib_is_kept_truncated(running):
    store = running.actor.store
    assert store
    big = {"text": "y" * (70 * 1024)}
    conversation.record_heard(store, 1, [(1, {"a": 1}), (2, big)])
    rows = store.read("SELECT seq, data FROM events WHERE kind = ?", (EventKind.session_update.value,))
    first, second = (json.loads(r["data"]) for r in rows)
    assert first == {"agent_run": 1, "acp_id": 1, "message": {"a": 1}}
    assert second["message"] is None and second["truncated"]["bytes"] > 70 * 1024
    assert len(second["truncated"]["head"]) == conversation.MAX_MESSAGE_BYTES
    assert [r["seq"] for r in rows] == [rows[0]["seq"], rows[0]["seq"] + 1]
    assert conversation.last_heard(store, 1) == 2 and conversation.last_heard(store, 2) == 0


def test_a_revived_agent_is_a_new_run(running):
    """One run per `task.agent` event: the provisioning's, then one per revive; ids count again."""
    store = running.actor.store
    assert store and conversation.agent_run(store) == 1
    with store.write() as c:
        store.append(c, EventKind.agent, {"restarted": True})
    assert conversation.agent_run(store) == 2


def test_a_server_sent_event_gives_its_id_and_json_and_a_keep_alive_gives_nothing():
    assert parse_event('id: 7\ndata: {"jsonrpc": "2.0"}') == (7, {"jsonrpc": "2.0"})
    assert parse_event("data: a\ndata: b\nid:3") == (3, "a\nb")
    assert parse_event(": keep-alive") is None


async def test_the_stream_gives_what_arrived_in_one_burst_and_resumes_after_an_id(aiohttp_server):
    """Events written together come as one burst; a new stream from after an id skips what came
    before it, as sandbox-agent replays from Last-Event-ID."""
    asked: list[str] = []

    async def sse(request: web.Request) -> web.StreamResponse:
        after = int(request.headers["Last-Event-ID"])
        asked.append(request.headers["Last-Event-ID"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events = "".join(f"id: {n}\ndata: {json.dumps({'n': n})}\n\n" for n in range(after + 1, 4))
        await response.write(events.encode())
        return response  # ends the stream

    app = web.Application()
    app.router.add_get("/v1/acp/{server}", sse)
    server = await aiohttp_server(app)
    stream = AcpStream(f"http://127.0.0.1:{server.port}", "t", 0, 5.0)
    assert await stream.burst() == [(1, {"n": 1}), (2, {"n": 2}), (3, {"n": 3})]
    assert await stream.burst() == []  # ended
    await stream.close()
    resumed = AcpStream(f"http://127.0.0.1:{server.port}", "t", 2, 5.0)
    assert await resumed.burst() == [(3, {"n": 3})] and asked == ["0", "2"]
    await resumed.close()


def heard(run: int, acp_id: int, message: object) -> dict[str, object]:
    return {"kind": "session.update", "data": {"agent_run": run, "acp_id": acp_id, "message": message}}


CHUNK = {
    "method": "session/update",
    "params": {"update": {"sessionUpdate": "agent_message_chunk", "content": {"text": "Hi"}}},
}


@pytest.mark.parametrize(
    ("event", "line"),
    [
        ({"kind": "session.prompt", "data": {"message_id": "m", "text": "add a test"}}, "> add a test"),
        (heard(1, 9, CHUNK), "[1:9] agent_message_chunk Hi"),
        (heard(2, 1, {"result": {}}), "[2:1] result"),
        (heard(1, 3, None), "[1:3]"),  # truncated
        (heard(1, 4, "not json"), "[1:4]"),
    ],
)
def test_the_admin_script_shows_each_conversation_event_in_a_line(event, line):
    from scripts.admin import _brief

    assert _brief(event) == line
