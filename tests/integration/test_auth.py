"""CRUCIBLE_TOKEN against a real server: REST and both websockets, with, without and with a wrong token."""

import asyncio
import urllib.request

import aiohttp
import pytest

from tests.server import Server

pytestmark = pytest.mark.integration
TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(make_server, repo) -> Server:
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=5, CRUCIBLE_TOKEN=TOKEN).start()  # health is open
    body = {"name": "demo", "repo": str(repo)}
    assert server.post("/v1/workspaces/default/projects", body, headers=AUTH).status == 201
    return server


def test_rest_needs_the_token(server):
    task_id = server.create(headers=AUTH).body["id"]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        guarded = [f"/v1/tasks/{task_id}", "/v1/workspaces", "/metrics", "/v1/nowhere"]
        for method, path in [*(("GET", p) for p in guarded), ("POST", f"/v1/tasks/{task_id}/kill")]:
            resp = server.request(method, path, headers=headers)
            assert resp.status == 401, (method, path)
            assert resp.body["error"]["code"] == "unauthorized"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert server.create(headers=headers).status == 401
    assert server.get(f"/v1/tasks/{task_id}", headers=AUTH).status == 200
    scrape = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers=AUTH)
    with urllib.request.urlopen(scrape, timeout=10) as resp:
        assert resp.status == 200 and b"crucible_tasks" in resp.read()
    assert server.get("/v1/health").status == 200 and server.get("/v1/openapi.json").status == 200
    assert server.get("/v1/openapi.json").body["security"] == [{"bearer": []}]


async def first_frame(url: str, headers: dict[str, str] | None = None) -> dict:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        frame: dict = await asyncio.wait_for(ws.receive_json(), 30)
        return frame


@pytest.mark.parametrize("stream", ["task", "feed"])
async def test_websockets_take_the_header_or_the_query_token(server, stream):
    task_id = server.create(headers=AUTH).body["id"]
    base = f"ws://127.0.0.1:{server.port}"
    url = (
        f"{base}/v1/tasks/{task_id}/events?since=0"
        if stream == "task"
        else f"{base}/v1/workspaces/default/events?since=0"
    )
    with_header = await first_frame(url, AUTH)
    with_query = await first_frame(f"{url}&token={TOKEN}")
    kind = "seq" if stream == "task" else "type"  # a feed frame is the task's latest summary: it moves on
    assert with_header[kind] == with_query[kind] == (1 if stream == "task" else "task")
    for refused in (url, f"{url}&token=wrong"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await first_frame(refused)
        assert caught.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await first_frame(url, {"Authorization": "Bearer wrong"})
