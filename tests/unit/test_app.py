"""The app factory's own behaviour: health states, write admission, error format."""

from typing import Any

import pytest

from backend.app import create_app
from backend.reader import Reader

# `runtime`: tests/conftest.py's fixture, an app runtime that never starts its actors.


async def test_health_says_starting_until_ready_then_ok(aiohttp_client, runtime):
    client = await aiohttp_client(create_app(runtime))
    resp = await client.get("/v1/health")
    assert (resp.status, await resp.json()) == (503, {"status": "starting"})
    runtime.health = "ok"
    resp = await client.get("/v1/health")
    assert (resp.status, await resp.json()) == (200, {"status": "ok"})
    runtime.health = "draining"
    assert (await (await client.get("/v1/health")).json()) == {"status": "draining"}


@pytest.mark.parametrize("state", ["starting", "draining"])
async def test_writes_get_503_with_retry_after_until_ready(aiohttp_client, runtime, state):
    runtime.health = state
    client = await aiohttp_client(create_app(runtime))
    resp = await client.post("/v1/workspaces", json={"name": "x"})
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == state


async def test_every_response_carries_a_request_id(aiohttp_client, runtime):
    client = await aiohttp_client(create_app(runtime))
    resp = await client.get("/v1/nowhere")
    assert resp.headers["X-Request-Id"] == "generated-id"
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/v1/health", headers={"X-Request-Id": "mine"})
    assert resp.headers["X-Request-Id"] == "mine"


async def test_an_unexpected_failure_is_a_500_without_a_traceback(aiohttp_client, runtime, monkeypatch):
    async def boom(self: Reader) -> list[Any]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Reader, "workspaces", boom)
    client = await aiohttp_client(create_app(runtime))
    resp = await client.get("/v1/workspaces")
    body = await resp.json()
    assert resp.status == 500 and body["error"]["code"] == "internal_error"
    assert "secret" not in str(body) and "Traceback" not in str(body)
