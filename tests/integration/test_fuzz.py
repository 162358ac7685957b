"""Fuzz: schemathesis against the OpenAPI document a real server (sim provider) serves.

Eight workers at once (races between requests are part of what it finds), for a fixed time (BUDGET_S),
thousands of generated requests, valid and invalid: the coverage and fuzzing phases, and the stateful
phase, which follows the document's links from a created workspace to a project registered in it, to a
task created there, and from a task to its record, history and every action (fuzz_hooks.py aims most
requests at what exists). A fifth of the provider's calls fail, two attempts per step, so some tasks end
in error and can be retried. Every answer must be documented: no 5xx, each status code, body, content
type and header as the document says, invalid input refused, unsupported methods 405, a deleted task
gone. Then the server is still healthy, and stops (SIGTERM) with exit 0 having written JSON lines only.
A second, smaller run against a server with a token checks that every guarded operation refuses a
request without it. The seed is fixed (FUZZ_SEED=n explores another), though with several workers and
a time budget a run does not replay exactly; the fuzzer's finds are pinned below as plain regression
tests.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.helpers.logs import entries as entries_of
from tests.helpers.logs import not_json
from tests.server import ROOT, Server, make_repo

pytestmark = pytest.mark.integration
SEED = os.environ.get("FUZZ_SEED", "20261127")
TOKEN = "fuzz-token"
HERE = Path(__file__).parent
WORKERS = "8"
BUDGET_S = 90  # the main run's `--max-time`: its phases repeat until it is spent
SIM = {"CRUCIBLE_SIM_STEP_MS": "5"}
FAILING = {**SIM, "CRUCIBLE_SIM_FAIL": "0.2", "CRUCIBLE_MAX_ATTEMPTS": "2", "CRUCIBLE_BACKOFF_BASE_S": "0.01"}
TASK_PATH = re.compile(r"/v1/tasks/[0-9a-f]{22}(?:/(\w+))?")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A sim server with project `demo`, for the regression tests."""
    base = tmp_path_factory.mktemp("fuzz")
    server = Server(base / "data", "sim", SIM)
    try:
        server.start()
        assert server.register(make_repo(base / "repo")).status == 201
        yield server
    finally:
        server.cleanup()


def tasks_for(server: Server, headers: dict[str, str] | None) -> list[str]:
    """Four tasks, and with a failing provider a fifth that ended in error (so that a retry can act)."""
    ids = [server.create({"prompt": f"fuzz {i}"}, headers=headers).body["id"] for i in range(4)]
    if "CRUCIBLE_SIM_FAIL" in server.env:
        for attempt in range(60):
            task_id = server.create({"prompt": f"to fail {attempt}"}, headers=headers).body["id"]
            if server.wait_status(task_id, {"running", "error"})["status"] == "error":
                return [*ids, task_id]
        raise AssertionError("no task ended in error")
    return ids


def fuzz(
    server: Server, out: Path, repo: Path, *args: str, headers: dict[str, str] | None = None
) -> list[dict]:
    """Run `st run` against the server's own document; its report (HAR) lists every request it made."""
    har = out / "fuzz.har"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml")),
        *("run", f"http://127.0.0.1:{server.port}/v1/openapi.json"),
        *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),  # valid input may still 404/409
        *("--seed", SEED, "--workers", WORKERS, "--request-timeout", "30", "--wait-for-schema", "10"),
        *("--report", "har", "--report-har-path", str(har)),
        *args,
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_hooks",
        "FUZZ_TASK_IDS": ",".join(tasks_for(server, headers)),
        "FUZZ_REPO": str(repo),
        "NO_COLOR": "1",
    }
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=BUDGET_S + 120)
    assert done.returncode == 0, failures_in(done.stdout) + done.stderr[-5000:]
    entries: list[dict] = json.loads(har.read_text())["log"]["entries"]
    return entries


def failures_in(report: str) -> str:
    """The report's failures (each with a command that replays it), ahead of its long warnings."""
    failures = report.find("= FAILURES =")
    return report[max(failures, 0) :][:20000] + report[-3000:]


def task_answers(entries: list[dict]) -> Counter[str]:
    """The 2xx answers to task operations, by method and action: `GET`, `POST kill`, `GET history`..."""
    answered: Counter[str] = Counter()
    for entry in entries:
        found = TASK_PATH.fullmatch(urlsplit(entry["request"]["url"]).path)
        if found and 200 <= entry["response"]["status"] < 300:
            answered[f"{entry['request']['method']} {found[1] or ''}".strip()] += 1
    return answered


def test_eight_workers_get_documented_answers_reaching_every_task_action_then_a_json_stop(
    make_server, repo, tmp_path
):
    server = make_server("sim", **FAILING).start()
    assert server.register(repo).status == 201
    began = time.monotonic()
    entries = fuzz(server, tmp_path, repo, "--max-examples", "50", "--max-time", str(BUDGET_S))
    statuses = Counter(e["response"]["status"] for e in entries)
    assert len(entries) >= 1000, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[201] > 20 and statuses[202] > 5 and statuses[204] > 0, "it reached real state"
    actions = {"GET", "GET history", "POST archive", "POST kill", "POST retry", "DELETE"}
    assert actions <= set(task_answers(entries)), task_answers(entries)
    assert time.monotonic() - began < BUDGET_S + 60
    assert server.get("/v1/health").status == 200
    failed = [e for e in entries_of(server.data / "logs" / "actors.log") if "exception" in e]
    assert failed == [], failed[:3]  # no actor handler failed, even where the answer was documented
    assert server.stop() == 0
    assert not_json(server.log) == []


def test_with_a_token_no_guarded_operation_answers_without_it(make_server, repo, tmp_path):
    server = make_server("sim", CRUCIBLE_TOKEN=TOKEN, **SIM).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        server.post(
            "/v1/workspaces/default/projects", {"name": "demo", "repo": str(repo)}, headers=auth
        ).status
        == 201
    )
    entries = fuzz(
        server, tmp_path, repo, "--max-examples", "5", "--phases", "coverage,fuzzing", headers=auth
    )
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


async def test_commands_racing_a_delete_get_404_never_a_500_and_leave_no_file(server):
    """Eight workers at once found it: a command routed to a task as it was deleted failed its actor
    (500), or opened the deleted task's database anew (an empty file left), and a history read as the
    files went failed on them (500). Each request races one delete of a killed task."""
    url = f"http://127.0.0.1:{server.port}/v1/tasks"
    ids = [server.create({"prompt": f"race {n}"}).body["id"] for n in range(10)]
    for task_id in ids:
        assert server.post(f"/v1/tasks/{task_id}/kill").status == 202
    for task_id in ids:
        server.wait_status(task_id, {"killed"})
    racing = [("DELETE", ""), ("POST", "/kill"), ("POST", "/archive"), ("GET", "/history"), ("DELETE", "")]
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str) -> int:
            async with http.request(method, url + path) as resp:
                await resp.read()
                return resp.status

        answers = [
            await asyncio.gather(*(call(method, f"/{task_id}{action}") for method, action in racing))
            for task_id in ids
        ]
    assert {status for each in answers for status in each} <= {200, 202, 204, 404, 409}, answers
    assert all(each.count(204) == 1 for each in answers), answers  # one delete won
    await asyncio.sleep(0.5)  # whatever a late command would have made
    assert not [p.name for p in (server.data / "tasks").iterdir() if p.name.startswith(tuple(ids))]
