"""Fuzz: schemathesis against the OpenAPI document a real server (sim provider) serves.

At least a thousand generated requests, valid and invalid (coverage, fuzzing and stateful phases), and
every answer must be documented: no 5xx, each status code, body, content type and header as the document
says, invalid input refused, unsupported methods 405, a deleted task gone. Then the server is still healthy.
A second, smaller run against a server with a token checks that every guarded operation refuses a request
without it. The seed is fixed so that a run replays (FUZZ_SEED=n explores another); the fuzzer's finds are
pinned below as plain regression tests.
"""

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.server import ROOT, Server, make_repo

pytestmark = pytest.mark.integration
SEED = os.environ.get("FUZZ_SEED", "20261127")
TOKEN = "fuzz-token"
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("fuzz")
    # One ready task actor per project: the fuzzer registers projects, and each would fork a pool.
    server = Server(base / "data", "sim", {"CRUCIBLE_SIM_STEP_MS": "5", "CRUCIBLE_POOL_SIZE": "1"})
    try:
        server.start()
        assert server.register(make_repo(base / "repo")).status == 201
        yield server
    finally:
        server.cleanup()


def fuzz(server: Server, out: Path, *args: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Run `st run` against the server's own document; its report (HAR) lists every request it made."""
    task_ids = [server.create({"prompt": f"fuzz {i}"}, headers=headers).body["id"] for i in range(4)]
    har = out / "fuzz.har"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml")),
        *("run", f"http://127.0.0.1:{server.port}/v1/openapi.json"),
        *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),  # valid input may still 404/409
        *("--seed", SEED, "--workers", "1", "--request-timeout", "30", "--wait-for-schema", "10"),
        *("--report", "har", "--report-har-path", str(har)),
        *args,
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_hooks",
        "FUZZ_TASK_IDS": ",".join(task_ids),
        "NO_COLOR": "1",
    }
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-30000:] + done.stderr[-5000:]
    entries: list[dict] = json.loads(har.read_text())["log"]["entries"]
    return entries


def test_a_thousand_generated_requests_all_get_documented_answers(server, tmp_path):
    entries = fuzz(server, tmp_path, "--max-examples", "45")
    statuses = Counter(e["response"]["status"] for e in entries)
    assert len(entries) >= 1000, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[201] > 20 and statuses[202] > 5 and statuses[204] > 0, "it reached real state"
    assert server.get("/v1/health").status == 200


def test_with_a_token_no_guarded_operation_answers_without_it(make_server, repo, tmp_path):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=5, CRUCIBLE_POOL_SIZE=1, CRUCIBLE_TOKEN=TOKEN).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        server.post(
            "/v1/workspaces/default/projects", {"name": "demo", "repo": str(repo)}, headers=auth
        ).status
        == 201
    )
    entries = fuzz(server, tmp_path, "--max-examples", "5", "--phases", "coverage,fuzzing", headers=auth)
    statuses = Counter(e["response"]["status"] for e in entries)
    assert statuses[401] > 0 and not [s for s in statuses if s >= 500], statuses  # ignored_auth sent some
    assert server.get("/v1/health").status == 200


# ---- what the fuzzer found (`after` past SQLite's integers) and what probing beside it found ----------


def test_a_seq_beyond_sqlite_integers_is_refused_not_a_500(server):
    task_id = server.create().body["id"]
    resp = server.get(f"/v1/tasks/{task_id}/history?after={2**63}")
    assert (resp.status, resp.body["error"]["details"]) == (422, {"parameter": "after"})
    assert server.get(f"/v1/tasks/{task_id}/history?after={2**63 - 1}").body == {"events": []}
    assert server.get(f"/v1/tasks/{task_id}/history?limit={10**30}").status == 200  # clamped


async def test_a_task_stream_refuses_such_a_since_before_the_upgrade(server):
    task_id = server.create().body["id"]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"ws://127.0.0.1:{server.port}/v1/tasks/{task_id}/events?since={2**63}")
    assert refused.value.status == 422


async def test_a_feed_cursor_of_non_ascii_digits_is_unusable_so_a_resync(server):
    url = f"ws://127.0.0.1:{server.port}/v1/workspaces/default/events?since=%C2%B2"  # '²'.isdigit()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        first = await asyncio.wait_for(ws.receive_json(), 10)
    assert first == {"type": "resync"}


def test_a_body_nested_too_deeply_is_malformed_json(server):
    resp = server.post("/v1/workspaces", raw=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert (resp.status, resp.body["error"]["code"]) == (400, "malformed_json")


def test_a_body_that_does_not_decode_as_its_content_encoding_says_is_a_400(server):
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    resp = server.post("/v1/workspaces", raw=b'{"name": "gz"}', headers=headers)
    assert (resp.status, resp.body["error"]["code"]) == (400, "bad_request")


@pytest.mark.parametrize("repo", ["/tmp/a\x00b", "https://example.com/a\x00b", "/tmp/a\nb"])
def test_a_repo_with_control_characters_is_refused(server, repo):
    resp = server.post("/v1/workspaces/default/projects", {"name": "ctl", "repo": repo})
    assert (resp.status, resp.body["error"]["code"]) == (422, "invalid_repo")


@pytest.mark.parametrize("query", ["cursor=0123456789abcdef012345%0A", "project=demo%0A"])
def test_a_trailing_newline_does_not_pass_for_an_id_or_a_name(server, query):
    resp = server.get(f"/v1/workspaces/default/tasks?{query}")
    assert (resp.status, resp.body["error"]["code"]) == (422, "invalid_parameter")
