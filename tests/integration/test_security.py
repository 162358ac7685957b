"""Names and ids never build a path outside the data directory; user values never become options of a
command (git gets `--` before them, and refuses `ext::`); nothing runs through a shell. A hostile page in
the user's browser gets nothing: a rebound name is refused by `Host`, another site's websocket or write by
`Origin` (docs/security.md)."""

import asyncio
import base64
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.server import Server, serving_sim


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving_sim(tmp_path_factory, "security", {})


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tasks/..%2F..%2Fcrucible.lock",
        "/v1/tasks/../../crucible.lock",
        "/v1/tasks/%2e%2e%2fworkspaces",
        "/v1/workspaces/..%2F..%2Fetc/projects",
        "/v1/workspaces/default/projects/..%2Fdefault",
        "/static/..%2F..%2Fbackend%2Fapp.py",
    ],
)
def test_traversal_in_ids_and_names_finds_nothing(server, path):
    response = server.get(path)
    assert response.status in (404, 422), response.body
    assert "traceback" not in str(response.body).lower()


@pytest.mark.parametrize(
    "value",
    [
        "--upload-pack=touch {canary}",
        "-u touch {canary}",
        "ext::sh -c touch% {canary}",
        "file:///nonexistent;touch {canary}",
        "$(touch {canary})",
    ],
)
def test_a_repo_value_never_becomes_an_option_or_a_command(server, tmp_path, value):
    canary = tmp_path / "pwned"
    body = {"name": "evil", "repo": value.format(canary=canary)}
    response = server.post("/v1/workspaces/default/projects", body)
    assert response.status == 422, response.body
    assert not canary.exists()


@pytest.mark.parametrize("branch", ["-b", "--orphan", "--upload-pack=x", "../x", "a..b", "HEAD", "@{-1}"])
def test_a_branch_that_git_would_read_as_an_option_or_another_ref_is_refused(server, branch):
    response = server.create({"prompt": "x", "branch": branch})
    assert response.status == 422, (branch, response.body)


def test_names_that_are_paths_are_refused(server, tmp_path: Path):
    for name in ("..", ".", "a/b", "-x", ".hidden", "A"):
        response = server.post("/v1/workspaces", {"name": name})
        assert response.status == 422, (name, response.body)
    assert not (server.data / "workspaces" / "..").resolve().joinpath("workspace.sqlite").exists()


# ---- a hostile page: DNS rebinding (Host) and cross-site websockets and writes (Origin) -----------------

EVIL = "evil.example"


def handshake(server: Server, path: str, origin: str, wait: float = 2.0) -> bytes:
    """A browser's websocket handshake, raw, and every byte the server sends back within `wait` seconds."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n\r\n"
    )
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(request.encode())
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def task_ids(server: Server) -> set[str]:
    return {t["id"] for t in server.get("/v1/workspaces/default/tasks?limit=1000").body["tasks"]}


@pytest.mark.parametrize("path", ["/v1/health", "/", "/v1/openapi.json", "/v1/workspaces", "/metrics"])
def test_a_rebound_name_is_refused_on_every_route(server, path):
    response = server.get(path, headers={"Host": f"{EVIL}:{server.port}"})
    assert (response.status, response.body["error"]["code"]) == (421, "host_not_allowed")


def test_a_rebinding_page_can_neither_register_a_repo_nor_start_a_task(server, tmp_path):
    """Same-origin for the browser once the name points at 127.0.0.1, and refused all the same."""
    rebound = {"Host": f"{EVIL}:{server.port}", "Origin": f"http://{EVIL}:{server.port}"}
    before = task_ids(server)
    body = {"name": "evil", "repo": str(tmp_path)}
    assert server.post("/v1/workspaces/default/projects", body, headers=rebound).status == 421
    assert server.create({"prompt": "exfiltrate"}, headers=rebound).status == 421
    assert server.get("/v1/workspaces/default/projects/evil").status == 404
    assert task_ids(server) == before


def test_another_sites_websocket_is_refused_before_the_upgrade_and_streams_nothing(server):
    """The server's own page gets the frames (so the probe works); another site's gets a 403 only."""
    task_id = server.create().body["id"]
    streams = {  # what the first frames carry
        "/v1/workspaces/default/events?since=0": task_id.encode(),
        f"/v1/tasks/{task_id}/events?since=0": b"task.created",
    }
    for path, marker in streams.items():
        own = handshake(server, path, f"http://127.0.0.1:{server.port}")
        assert own.startswith(b"HTTP/1.1 101") and marker in own, own[:300]
        foreign = handshake(server, path, f"http://{EVIL}")
        assert foreign.startswith(b"HTTP/1.1 403") and b"origin_not_allowed" in foreign, foreign[:300]
        assert marker not in foreign and b"\x81" not in foreign  # no text frame


def test_another_sites_writes_are_refused_and_change_nothing(server):
    task_id = server.wait_status(server.create().body["id"], {"running"})["id"]
    foreign = {"Origin": f"http://{EVIL}"}
    before = task_ids(server)
    refused = [
        server.post("/v1/workspaces", {"name": "evil"}, headers=foreign),
        server.create({"prompt": "x"}, headers=foreign),
        server.post(f"/v1/tasks/{task_id}/kill", headers=foreign),
        server.request("DELETE", f"/v1/tasks/{task_id}", headers=foreign),
    ]
    assert [(r.status, r.body["error"]["code"]) for r in refused] == [(403, "origin_not_allowed")] * 4
    assert "evil" not in {w["name"] for w in server.get("/v1/workspaces").body["workspaces"]}
    assert task_ids(server) == before and server.task(task_id)["status"] == "running"


def test_the_servers_own_page_and_clients_without_origin_still_work(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as page:
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    own = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert server.create({"prompt": "from the dashboard"}, headers=own).status == 201
    assert server.create({"prompt": "from curl"}).status == 201
    assert server.get("/v1/health", headers={"Host": f"localhost:{server.port}"}).status == 200


def test_a_preflight_fails_and_a_form_body_is_refused(server):
    """Behind the Origin check: a JSON write from another site needs a preflight, which never succeeds,
    and a body a page may send without one is no JSON."""
    before = task_ids(server)
    tasks = "/v1/workspaces/default/projects/demo/tasks"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin in ({}, {"Origin": f"http://{EVIL}"}):
        answer = server.request("OPTIONS", tasks, headers={**preflight, **origin})
        assert answer.status == (403 if origin else 405), answer.body
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    form = server.post(tasks, raw=b"prompt=x", headers={"Content-Type": "text/plain"})
    assert (form.status, form.body["error"]["code"]) == (415, "unsupported_media_type")
    assert task_ids(server) == before


async def first_frame(url: str, origin: str) -> dict:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, origin=origin) as ws:
        frame: dict = await asyncio.wait_for(ws.receive_json(), 30)
        return frame


async def test_allowed_hosts_and_origins_admit_what_they_list_and_nothing_more(make_server, repo):
    server = make_server(
        "sim",
        CRUCIBLE_SIM_STEP_MS=5,
        CRUCIBLE_ALLOWED_HOSTS="crucible.test, ops.test",
        CRUCIBLE_ALLOWED_ORIGINS="http://ui.test:8080",
    ).start()
    assert server.register(repo).status == 201
    for host, status in (("crucible.test", 200), (f"ops.test:{server.port}", 200), ("other.test", 421)):
        assert server.get("/v1/workspaces", headers={"Host": host}).status == status, host
    for origin, status in (("http://ui.test:8080", 201), ("http://ui.test:8081", 403)):
        assert server.create({"prompt": "x"}, headers={"Origin": origin}).status == status, origin
    url = f"ws://127.0.0.1:{server.port}/v1/workspaces/default/events?since=0"
    assert (await first_frame(url, origin="http://ui.test:8080"))["type"] == "task"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await first_frame(url, origin="https://ui.test:8080")
    assert refused.value.status == 403
