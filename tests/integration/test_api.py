"""The HTTP contract against a real server (real multiprocess actor system, sim provider)."""

import itertools
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.server import RESULT_KINDS, Server, make_repo, wait_until

pytestmark = pytest.mark.integration
_names = (f"p{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the module; each test works in projects of its own."""
    base = tmp_path_factory.mktemp("api")
    server = Server(base / "data", "sim", {"CRUCIBLE_SIM_STEP_MS": "5"})
    try:
        server.start()
        repo = make_repo(base / "repo")
        assert server.register(repo).status == 201
        yield server, repo
    finally:
        server.cleanup()


@pytest.fixture
def server(shared) -> Server:
    return shared[0]


@pytest.fixture
def repo(shared):
    return shared[1]


@pytest.fixture
def project(server, repo) -> str:
    name = next(_names)
    assert server.register(repo, name=name).status == 201
    return name


def test_create_answers_with_a_durable_record_listed_at_once(server, project):
    created = server.create({"prompt": "Fix the login bug\nDetails follow"}, project=project)
    assert created.status == 201
    record = created.body
    assert created.headers["Location"] == f"/v1/tasks/{record['id']}"
    assert record["status"].startswith("init_") and record["title"] == "Fix the login bug"
    assert record["branch"].startswith("crucible/fix-the-login-bug-")
    listed = server.get(f"/v1/workspaces/default/tasks?project={project}").body["tasks"]
    assert [t["id"] for t in listed] == [record["id"]]  # read-your-writes
    assert server.get(f"/v1/tasks/{record['id']}").body["id"] == record["id"]


def test_a_task_provisions_to_running_with_the_canonical_history(server):
    task_id = server.create().body["id"]
    record = server.wait_status(task_id, {"running"})
    assert record["seq"] == 11 and record["sandbox"] and record["session_id"]
    events = server.history(task_id)
    assert [e["seq"] for e in events] == list(range(1, 12))
    assert [e["kind"] for e in events if e["kind"] != "task.status"] == RESULT_KINDS
    assert server.get(f"/v1/tasks/{task_id}/history?after=9&limit=1").body["events"][0]["seq"] == 10


def test_list_filters_and_paginates_newest_first(server, repo, project):
    other_project = next(_names)
    assert server.register(repo, name=other_project).status == 201
    ids = [server.create(project=project).body["id"] for _ in range(5)]
    other = server.create(project=other_project).body["id"]
    page1 = server.get(f"/v1/workspaces/default/tasks?project={project}&limit=3").body
    query = f"project={project}&limit=3&cursor={page1['next_cursor']}"
    page2 = server.get(f"/v1/workspaces/default/tasks?{query}").body
    assert [t["id"] for t in page1["tasks"] + page2["tasks"]] == ids[::-1]
    assert page2["next_cursor"] is None
    for task_id in [*ids, other]:
        server.wait_status(task_id, {"running"})
    # The list follows the task databases a moment later (the projection is updated by a push).
    query = f"/v1/workspaces/default/tasks?status=running,error&project={other_project}"
    wait_until(lambda: server.get(query).body["tasks"] != [])
    assert [t["id"] for t in server.get(query).body["tasks"]] == [other]


def test_idempotency_key_replays_the_same_task_and_refuses_another_body(server, project):
    key = {"Idempotency-Key": "abc-123"}
    first = server.create({"prompt": "one"}, headers=key, project=project)
    again = server.create({"prompt": "one"}, headers=key, project=project)
    assert (first.status, again.status) == (201, 200)
    assert again.body["id"] == first.body["id"]
    other = server.create({"prompt": "two"}, headers=key, project=project)
    assert other.status == 409 and other.body["error"]["code"] == "idempotency_conflict"
    assert len(server.get(f"/v1/workspaces/default/tasks?project={project}").body["tasks"]) == 1


def test_request_id_is_echoed_or_made(server):
    assert server.get("/v1/health", headers={"X-Request-Id": "req-42"}).headers["X-Request-Id"] == "req-42"
    assert server.get("/v1/nope").headers["X-Request-Id"]


def test_workspaces_and_projects(server, repo):
    made = server.post("/v1/workspaces", {"name": "team-a"})
    assert made.status == 201 and made.body["name"] == "team-a"
    names = [w["name"] for w in server.get("/v1/workspaces").body["workspaces"]]
    assert "default" in names and "team-a" in names
    assert server.register(repo, name="p1", workspace="team-a").status == 201
    assert server.get("/v1/workspaces/team-a/projects/p1").body["repo"] == str(repo)
    assert [p["name"] for p in server.get("/v1/workspaces/team-a/projects").body["projects"]] == ["p1"]


def test_workspace_creates_past_the_limit_are_refused_even_when_concurrent(make_server):
    """CRUCIBLE_MAX_WORKSPACES counts `default` and creates in flight: six at once leave exactly three."""
    server = make_server("sim", CRUCIBLE_MAX_WORKSPACES=3).start()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: server.post("/v1/workspaces", {"name": f"w{i}"}), range(6)))
    assert sorted(a.status for a in answers) == [201, 201, 409, 409, 409, 409]
    refused = [a.body["error"] for a in answers if a.status == 409]
    assert {(e["code"], e["details"]["limit"]) for e in refused} == {("workspace_limit", 3)}
    assert len(server.get("/v1/workspaces").body["workspaces"]) == 3
    server.stop()
    server.start()
    assert server.post("/v1/workspaces", {"name": "after-restart"}).status == 409


# ---- one test per error code ---------------------------------------------------------------------

TASKS = "/v1/workspaces/default/projects/demo/tasks"
PROJECTS = "/v1/workspaces/default/projects"
JSON = {"Content-Type": "application/json"}


def case(method, path, body, status, code, headers=None):
    return (method, path, body, headers or {}, status, code)


# fmt: off
ERRORS = [
    case("POST", TASKS, b"{nope", 400, "malformed_json", JSON),
    case("POST", TASKS, b"x" * (1024 * 1024 + 1), 413, "body_too_large", JSON),
    case("POST", TASKS, b"prompt=x", 415, "unsupported_media_type", {"Content-Type": "text/plain"}),
    case("POST", TASKS, {"prompt": ""}, 422, "validation_error"),
    case("POST", TASKS, {"prompt": "x", "agent": "gpt"}, 422, "validation_error"),
    case("POST", TASKS, {"prompt": "x", "branch": "a..b"}, 422, "validation_error"),
    case("POST", TASKS, {"prompt": "x", "extra": 1}, 422, "validation_error"),
    case("POST", TASKS, [1, 2], 422, "validation_error"),
    case("POST", "/v1/workspaces", {"name": "Bad Name"}, 422, "validation_error"),
    case("POST", "/v1/workspaces", {"name": "default"}, 409, "workspace_exists"),
    case("POST", PROJECTS, {"name": "x", "repo": "/nonexistent/repo"}, 422, "not_a_repository"),
    case("POST", PROJECTS, {"name": "x", "repo": "ext::sh -c touch% /tmp/pwned"}, 422, "invalid_repo"),
    case("POST", PROJECTS, {"name": "x", "repo": "--upload-pack=touch /tmp/pwned"}, 422, "invalid_repo"),
    case("POST", "/v1/workspaces/nope/projects/demo/tasks", {"prompt": "x"}, 404, "workspace_not_found"),
    case("POST", "/v1/workspaces/default/projects/nope/tasks", {"prompt": "x"}, 404, "project_not_found"),
    case("GET", "/v1/workspaces/default/projects/nope", None, 404, "project_not_found"),
    case("GET", "/v1/tasks/0123456789abcdef012345", None, 404, "task_not_found"),
    case("GET", "/v1/tasks/..%2F..%2Fetc%2Fpasswd", None, 404, "task_not_found"),
    case("GET", "/v1/tasks/0123456789abcdef012345/history", None, 404, "task_not_found"),
    case("GET", "/v1/no/such/route", None, 404, "not_found"),
    case("DELETE", "/v1/workspaces", None, 405, "method_not_allowed"),
    case("GET", "/v1/workspaces/default/tasks?limit=abc", None, 422, "invalid_parameter"),
    case("GET", "/v1/workspaces/default/tasks?status=bogus", None, 422, "invalid_parameter"),
    case("GET", "/v1/workspaces/default/tasks?cursor=../x", None, 422, "invalid_parameter"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    ERRORS,
    ids=[f"{e[4]}-{e[5]}-{i}" for i, e in enumerate(ERRORS)],
)
def test_bad_input_gets_a_clear_json_error_and_changes_nothing(
    server, method, path, body, headers, status, code
):
    before = server.get("/v1/workspaces/default/tasks").body
    workspaces = [w["name"] for w in server.get("/v1/workspaces").body["workspaces"]]
    raw = body if isinstance(body, bytes) else None
    resp = server.request(method, path, None if raw is not None else body, headers=headers, raw=raw)
    assert resp.status == status, resp.body
    assert resp.body["error"]["code"] == code
    assert resp.body["error"]["message"] and "Traceback" not in str(resp.body)
    assert server.get("/v1/workspaces/default/tasks").body == before
    assert [w["name"] for w in server.get("/v1/workspaces").body["workspaces"]] == workspaces


def test_project_exists_and_branch_taken_are_conflicts(server, repo, project):
    again = server.register(repo, name=project)
    assert again.status == 409 and again.body["error"]["code"] == "project_exists"
    assert server.create({"prompt": "a", "branch": "feature/x"}, project=project).status == 201
    taken = server.create({"prompt": "b", "branch": "feature/x"}, project=project)
    assert taken.status == 409 and taken.body["error"]["code"] == "branch_taken"
    assert taken.body["error"]["details"]["task_id"]


def test_history_limit_is_clamped(server):
    task_id = server.create().body["id"]
    server.wait_status(task_id, {"running"})
    assert len(server.get(f"/v1/tasks/{task_id}/history?limit=5000").body["events"]) == 11


def test_the_server_keeps_no_zombie_child(server):
    """thespian starts its Admin through a child that exits at once; the server reaps it."""
    web = psutil.Process(server.proc.pid)
    assert [c.pid for c in web.children() if c.status() == psutil.STATUS_ZOMBIE] == []


def test_an_idle_task_actor_passivates_and_a_replay_activates_another(make_server, repo):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=1, CRUCIBLE_IDLE_TIMEOUT_S=0.5).start()
    assert server.register(repo).status == 201
    key = {"Idempotency-Key": "k1"}
    task_id = server.create({"prompt": "p"}, headers=key).body["id"]
    server.wait_status(task_id, {"running"})

    def holder() -> list[object]:
        lock, holding = f"{task_id}.lock", []
        for proc in server.actor_processes():
            try:
                if any(f.path.endswith(lock) for f in proc.open_files()):
                    holding.append(proc)
            except psutil.NoSuchProcess:
                continue  # an actor exiting as we look
        return holding

    wait_until(lambda: holder() == [])  # passivated: no process holds the task any more
    again = server.create({"prompt": "p"}, headers=key)
    assert (again.status, again.body["id"], again.body["status"]) == (200, task_id, "running")
    assert len(holder()) == 1  # activated again, on demand
    assert [e["seq"] for e in server.history(task_id)] == list(range(1, 12))
