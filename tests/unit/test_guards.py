"""The Host and Origin guards (backend/guards.py): what a hostile page in the user's browser is refused,
and what the user's own clients still get."""

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from backend.app import create_app
from backend.guards import parse_origin, split_host
from backend.hub import EventHub
from backend.openapi import build
from backend.reader import Reader
from backend.routes import RUNTIME
from backend.runtime import Runtime
from schemas.settings import Settings
from tests.helpers.app import IdleRuntime, NoBridge

EVIL_HOST = "evil.example:7400"
EVIL_ORIGIN = "http://evil.example:7400"
EVERY_KIND_OF_ROUTE = ["/v1/health", "/v1/openapi.json", "/", "/static/app.js", "/v1/workspaces", "/metrics"]


def runtime_with(tmp_path: Path, **settings: Any) -> Runtime:
    hub = EventHub(tmp_path / "hub.sock", 10)
    return IdleRuntime(Settings(data_dir=tmp_path, **settings), None, NoBridge(), Reader(tmp_path), hub)  # type: ignore[arg-type]


@pytest.fixture
def serve(aiohttp_client, tmp_path):
    """A test client of an app built with these settings (its runtime stays `starting`)."""

    async def make(**settings: Any) -> Any:
        return await aiohttp_client(create_app(runtime_with(tmp_path, **settings)))

    return make


def own_origin(client: Any) -> str:
    return f"http://127.0.0.1:{client.server.port}"


# ---- Host ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EVERY_KIND_OF_ROUTE)
async def test_a_foreign_host_gets_421_on_every_route_health_included(serve, path):
    client = await serve()
    resp = await client.get(path, headers={"Host": EVIL_HOST})
    assert resp.status == 421
    assert (await resp.json())["error"]["code"] == "host_not_allowed"
    assert resp.headers["X-Request-Id"] == "generated-id"


async def test_a_foreign_host_gets_421_before_the_token_is_even_asked_for(serve):
    client = await serve(token="s3cret")
    resp = await client.get("/v1/workspaces", headers={"Host": EVIL_HOST})
    assert (resp.status, (await resp.json())["error"]["code"]) == (421, "host_not_allowed")


async def test_the_refusal_tells_nothing_about_the_server(serve):
    client = await serve()
    body = await (await client.get("/v1/health", headers={"Host": EVIL_HOST})).json()
    assert set(body) == {"error"} and "evil" not in body["error"]["message"]


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:9000", "LocalHost.", "127.0.0.1", "127.8.9.10:7400", "[::1]:7400", "[::1]"],
)
async def test_loopback_names_pass_whatever_the_port(serve, host):
    client = await serve()
    resp = await client.get("/v1/openapi.json", headers={"Host": host})
    assert resp.status == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "localhost.evil.example",
        "sub.localhost",
        "127.0.0.1.evil.example",
        "evil.example@127.0.0.1",
        "127.0.0.1:7400@evil.example",
        "127.0.0.1:http",
        "127.0.0.1:99999",
        "::1",
        "[::1",
        "[evil.example]",
        "10.0.0.7",  # an address this loopback listener is not reached by
        "",
    ],
)
async def test_any_other_host_header_is_refused(serve, host):
    client = await serve()
    resp = await client.get("/v1/health", headers={"Host": host})
    assert resp.status == 421, host


async def test_the_listen_name_passes(serve):
    client = await serve(host="devbox.lan")
    assert (await client.get("/v1/openapi.json", headers={"Host": "devbox.lan:7400"})).status == 200
    assert (await client.get("/v1/openapi.json", headers={"Host": "other.lan:7400"})).status == 421


async def test_a_specific_listen_address_admits_itself_and_loopback_only(serve):
    client = await serve(host="192.168.7.5")
    assert (await client.get("/v1/openapi.json", headers={"Host": "192.168.7.5:7400"})).status == 200
    assert (await client.get("/v1/openapi.json", headers={"Host": "192.168.7.6:7400"})).status == 421


@pytest.mark.parametrize("listen", ["0.0.0.0", "::", "[::]"])
async def test_a_wildcard_listener_admits_any_address_and_the_machine_name_but_no_other_name(serve, listen):
    client = await serve(host=listen)
    for host in ("10.1.2.3:7400", "[fe80::1]:7400", f"{socket.gethostname()}:7400"):
        assert (await client.get("/v1/openapi.json", headers={"Host": host})).status == 200, host
    assert (await client.get("/v1/openapi.json", headers={"Host": EVIL_HOST})).status == 421


async def test_crucible_allowed_hosts_admits_what_it_lists_whatever_the_port(serve):
    client = await serve(allowed_hosts="crucible.test, Box.lan:9000,[fd00::5]")
    for host in ("crucible.test", "crucible.test:80", "box.lan:7400", "[fd00::5]:7400"):
        assert (await client.get("/v1/openapi.json", headers={"Host": host})).status == 200, host
    assert (await client.get("/v1/openapi.json", headers={"Host": "crucible.test.evil"})).status == 421


# ---- Origin ----------------------------------------------------------------------------------------


async def test_a_write_from_another_site_gets_403_before_any_handler(serve):
    client = await serve()
    client.app[RUNTIME].health = "ok"  # past admission: only the guard stands before the handler
    resp = await client.post("/v1/workspaces", json={"name": "evil"}, headers={"Origin": EVIL_ORIGIN})
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "origin_not_allowed")


async def test_a_write_from_the_servers_own_page_passes_the_guard(serve):
    client = await serve()  # `starting`: a write that passes the guard is stopped by admission
    resp = await client.post("/v1/workspaces", json={"name": "x"}, headers={"Origin": own_origin(client)})
    assert (resp.status, (await resp.json())["error"]["code"]) == (503, "starting")


async def test_a_websocket_handshake_from_another_site_is_refused_before_the_upgrade(serve):
    client = await serve()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/v1/workspaces/default/events?since=0", origin=EVIL_ORIGIN)
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://127.0.0.1:{port}",  # same host and port, another scheme
        "http://127.0.0.1:{other}",
        "http://localhost:{port}",  # another name of this machine is another site
        "http://127.0.0.1:{port}/",
        "null",  # sandboxed frames, file:// pages
        "",
    ],
)
async def test_any_origin_but_the_servers_own_is_refused_even_on_a_read(serve, origin):
    client = await serve()
    port = client.server.port
    given = origin.format(port=port, other=port + 1)
    resp = await client.get("/v1/openapi.json", headers={"Origin": given})
    assert resp.status == 403, given


async def test_no_origin_passes_as_from_curl_or_a_script(serve):
    client = await serve()
    resp = await client.post("/v1/workspaces", json={"name": "x"})
    assert resp.status == 503  # admission, not the guard


async def test_crucible_allowed_origins_admits_what_it_lists(serve):
    client = await serve(allowed_origins="http://ui.test, https://ops.test:8443")
    for origin in ("http://ui.test", "http://ui.test:80", "HTTPS://OPS.test:8443"):
        assert (await client.get("/v1/openapi.json", headers={"Origin": origin})).status == 200, origin
    for origin in ("https://ui.test", "https://ops.test", "http://ui.test:8080"):
        assert (await client.get("/v1/openapi.json", headers={"Origin": origin})).status == 403, origin


# ---- parsing and settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("Example.COM:80", ("example.com", 80)),
        ("localhost.", ("localhost", None)),
        ("[::1]:7400", ("::1", 7400)),
        ("[::1]x", None),
        ("a:b:c", None),
        ("host:", None),
        ("ho st", None),
        ("h\u00f6st", None),
        ("127.0.0.1:\u00b2", None),
    ],
)
def test_split_host(value, parsed):
    assert split_host(value) == parsed


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("http://a.test", ("http", "a.test", 80)),
        ("https://a.test", ("https", "a.test", 443)),
        ("https://[::1]:8443", ("https", "::1", 8443)),
        ("ftp://a.test", None),
        ("a.test", None),
        ("null", None),
    ],
)
def test_parse_origin(value, parsed):
    assert parse_origin(value) == parsed


def test_the_lists_are_read_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRUCIBLE_ALLOWED_HOSTS", " a.test, B.test ,,")
    monkeypatch.setenv("CRUCIBLE_ALLOWED_ORIGINS", "http://a.test:8080,https://b.test")
    settings = Settings()
    assert settings.allowed_host_list == ("a.test", "b.test")
    assert settings.allowed_origin_list == ("http://a.test:8080", "https://b.test")


@pytest.mark.parametrize(
    "given",
    [
        {"allowed_hosts": "http://a.test"},
        {"allowed_hosts": "a.test/x"},
        {"allowed_hosts": "::1"},
        {"allowed_origins": "a.test"},
        {"allowed_origins": "http://a.test/"},
        {"allowed_origins": "null"},
    ],
)
def test_a_malformed_entry_is_refused_at_start_up(given):
    with pytest.raises(ValidationError):
        Settings(**given)


@pytest.mark.parametrize("auth", [False, True])
def test_the_document_lists_both_refusals_on_every_operation(auth):
    for path, item in build(auth)["paths"].items():
        for method, op in item.items():
            for status, code in (("403", "origin_not_allowed"), ("421", "host_not_allowed")):
                assert code in op["responses"][status]["description"], (method, path)
