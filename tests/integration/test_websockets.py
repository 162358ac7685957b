"""Websocket streams against a real server: order, no gap, no duplicate, across seams and restarts."""

import asyncio
import json

import aiohttp
import pytest

from tests.server import Server, wait_until

pytestmark = pytest.mark.integration


def ws_url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def collect(session, url, until_kind="task.initialized", limit=None, timeout=60.0):
    """Frames of one socket until an event of `until_kind` (or `limit` frames) arrives."""
    frames = []
    async with session.ws_connect(url) as ws:
        async with asyncio.timeout(timeout):
            async for msg in ws:
                frames.append(json.loads(msg.data))
                if frames[-1].get("kind") == until_kind or (limit and len(frames) >= limit):
                    break
    return frames


@pytest.fixture
def server(make_server, repo) -> Server:
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=100).start()
    assert server.register(repo).status == 201
    return server


async def test_twenty_tasks_stream_in_order_with_no_gap(server):
    ids = [server.create({"prompt": f"t{i}"}).body["id"] for i in range(20)]
    async with aiohttp.ClientSession() as session:
        streams = await asyncio.gather(
            *(collect(session, ws_url(server, f"/v1/tasks/{t}/events?since=0")) for t in ids)
        )
    for task_id, frames in zip(ids, streams, strict=True):
        assert [f["seq"] for f in frames] == list(range(1, 12)), task_id
        assert frames == server.history(task_id)  # exactly what the history holds


async def test_live_only_without_since_and_resume_with_since(server):
    task_id = server.create().body["id"]
    async with aiohttp.ClientSession() as session:
        first = await collect(session, ws_url(server, f"/v1/tasks/{task_id}/events"), limit=3)
        assert first[0]["seq"] > 1  # no replay without `since`
        last = first[-1]["seq"]
        rest = await collect(session, ws_url(server, f"/v1/tasks/{task_id}/events?since={last}"))
    seqs = [f["seq"] for f in first + rest]
    assert seqs == list(range(seqs[0], 12)), "reconnecting with since continues with no gap or duplicate"


async def test_a_client_follows_a_task_across_a_backend_restart(make_server, repo, tmp_path):
    data = tmp_path / "data"
    server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
    assert server.register(repo).status == 201
    task_id = server.create().body["id"]
    async with aiohttp.ClientSession() as session:
        before = await collect(session, ws_url(server, f"/v1/tasks/{task_id}/events?since=0"), limit=4)
        server.kill9()
        server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=300).start()
        after = await collect(
            session, ws_url(server, f"/v1/tasks/{task_id}/events?since={before[-1]['seq']}")
        )
    events = before + after
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "task.initialized"
    assert events == server.history(task_id)


async def test_two_hundred_subscribers_of_one_task_see_the_same_stream(server):
    task_id = server.create().body["id"]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        streams = await asyncio.gather(
            *(collect(session, ws_url(server, f"/v1/tasks/{task_id}/events?since=0")) for _ in range(200))
        )
    expected = server.history(task_id)
    assert all(frames == expected for frames in streams)


async def test_unknown_task_is_404_before_the_upgrade(server):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url(server, "/v1/tasks/0123456789abcdef012345/events"))
    assert refused.value.status == 404


async def test_workspace_feed_replays_after_a_cursor_then_goes_live(server):
    first = server.create().body["id"]
    server.wait_status(first, {"running"})
    listed = lambda: server.get("/v1/workspaces/default/tasks").body["tasks"][0]["seq"]  # noqa: E731
    wait_until(lambda: listed() == 11)  # the projection has the task's last change
    async with aiohttp.ClientSession() as session:
        snapshot = await collect(session, ws_url(server, "/v1/workspaces/default/events?since=0"), limit=1)
        assert snapshot[0]["type"] == "task" and snapshot[0]["task"]["id"] == first
        cursor = snapshot[0]["cursor"]
        async with session.ws_connect(ws_url(server, f"/v1/workspaces/default/events?since={cursor}")) as ws:
            second = server.create().body["id"]
            frames = []
            async with asyncio.timeout(30):
                async for msg in ws:
                    frames.append(json.loads(msg.data))
                    if frames[-1]["task"]["status"] == "running":
                        break
    assert {f["task"]["id"] for f in frames} == {second}
    cursors = [f["cursor"] for f in frames]
    assert cursors == sorted(set(cursors)) and cursors[0] > cursor


@pytest.mark.parametrize("cursor", ["999999", "abc", "-1"])
async def test_an_unusable_workspace_cursor_gets_resync_and_a_full_snapshot(server, cursor):
    ids = {server.create().body["id"] for _ in range(3)}
    async with aiohttp.ClientSession() as session:
        frames = await collect(
            session, ws_url(server, f"/v1/workspaces/default/events?since={cursor}"), limit=4
        )
    assert frames[0] == {"type": "resync"}
    assert {f["task"]["id"] for f in frames[1:]} == ids


async def test_a_deletion_takes_a_feed_cursor_of_its_own_live_and_replayed(server):
    """A deleted task's row leaves the projection, and its cursor with it: the next change then took that
    cursor again, and a subscriber already past it never saw that change. A deletion now takes the next
    cursor and is announced (`{"type": "deleted"}`), live and on replay; later changes come after it."""
    kept, deleted = server.create().body["id"], server.create().body["id"]
    for task_id in (kept, deleted):
        server.wait_status(task_id, {"running"})
    assert server.post(f"/v1/tasks/{deleted}/kill").status == 202
    server.wait_status(deleted, {"killed"})
    latest = lambda: server.get("/v1/workspaces/default/tasks").body["tasks"]  # noqa: E731
    wait_until(lambda: {t["id"]: t["status"] for t in latest()}[deleted] == "killed")  # the highest cursor
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(server, "/v1/workspaces/default/events")) as ws:  # live only
            assert server.request("DELETE", f"/v1/tasks/{deleted}").status == 204
            assert server.post(f"/v1/tasks/{kept}/archive").status == 202
            frames = []
            async with asyncio.timeout(30):
                async for msg in ws:
                    frames.append(json.loads(msg.data))
                    if frames[-1].get("task", {}).get("status") == "archived":
                        break
        gone = frames[0]
        assert gone == {"type": "deleted", "cursor": gone["cursor"], "task_id": deleted}
        assert {f["task"]["id"] for f in frames[1:]} == {kept}
        cursors = [f["cursor"] for f in frames]
        assert cursors == sorted(set(cursors))
        since = gone["cursor"] - 1
        replayed = await collect(
            session, ws_url(server, f"/v1/workspaces/default/events?since={since}"), limit=2
        )
    assert replayed[0] == gone and replayed[1]["task"]["id"] == kept


async def test_clients_that_drop_mid_replay_end_quietly_with_no_error_logged(server):
    """A client gone while its replay is written is a normal end, not a server error (it had logged
    `request.failed` with a traceback, once per such client)."""
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    async with aiohttp.ClientSession() as session:
        for _ in range(50):
            ws = await session.ws_connect(ws_url(server, f"/v1/tasks/{task_id}/events?since=0"))
            ws._response.connection.transport.abort()  # gone, with no close handshake
        frames = await collect(session, ws_url(server, f"/v1/tasks/{task_id}/events?since=0"))
    assert frames[-1]["kind"] == "task.initialized"  # the server still streams
    logged = [json.loads(line) for line in server.log.read_text().splitlines()]
    assert [e for e in logged if e.get("level") == "error"] == []
