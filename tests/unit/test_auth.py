"""The optional bearer token, in the app: who is let through, and what a refusal looks like."""

from typing import Any

import pytest
from pydantic import SecretStr

from backend.app import create_app
from schemas.settings import Settings
from tests.helpers.app import idle_runtime

TOKEN = "s3cret-tök"  # not ASCII: compare_digest on str would refuse it
TASK = "0" * 22


def app_with(tmp_path: Any, token: str | None) -> Any:
    settings = Settings(data_dir=tmp_path, token=SecretStr(token) if token else None)
    runtime = idle_runtime(tmp_path, settings)
    runtime.health = "ok"
    return create_app(runtime)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await aiohttp_client(app_with(tmp_path, TOKEN))


@pytest.mark.parametrize("path", ["/v1/workspaces", f"/v1/tasks/{TASK}", "/metrics", "/v1/nowhere"])
@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(TOKEN[:-1]), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_without_the_right_token_every_guarded_path_is_401(client, path, headers):
    resp = await client.get(path, headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["error"]["code"] == "unauthorized"
    assert "X-Request-Id" in resp.headers


async def test_writes_are_guarded_too(client):
    resp = await client.post("/v1/workspaces", json={"name": "x"})
    assert resp.status == 401


async def test_with_it_requests_go_through(client):
    assert (await client.get(f"/v1/tasks/{TASK}", headers=bearer(TOKEN))).status == 404  # past the guard
    assert (await client.get("/metrics", headers={"authorization": f"bearer {TOKEN}"})).status == 200


@pytest.mark.parametrize("path", ["/v1/health", "/v1/openapi.json", "/", "/static/app.js"])
async def test_health_the_document_and_the_dashboard_files_stay_open(client, path):
    """The dashboard's files hold no data: the page asks for the token when the API answers 401."""
    assert (await client.get(path)).status == 200


async def test_the_query_token_counts_only_on_a_websocket_handshake(client):
    query = {"token": TOKEN}
    assert (await client.get(f"/v1/tasks/{TASK}", params=query)).status == 401
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    resp = await client.get(f"/v1/tasks/{TASK}/events", params=query, headers=upgrade)
    assert resp.status == 404  # past the guard: the task is unknown
    resp = await client.get(f"/v1/tasks/{TASK}/events", params={"token": "wrong"}, headers=upgrade)
    assert resp.status == 401


async def test_without_a_token_configured_nothing_is_guarded(aiohttp_client, tmp_path):
    client = await aiohttp_client(app_with(tmp_path, None))
    assert (await client.get("/metrics")).status == 200


def test_an_empty_token_is_refused_rather_than_serving_open(tmp_path):
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, token="")
