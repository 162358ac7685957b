"""The cap on live task actors: creates beyond it answer at once, their provisioning waits for a slot
in creation order (visibly), every task completes, and the wait survives a kill -9. Idle actors go: a
task's at rest, then a quiet project's, then a workspace with no project live, until a create or a
command needs them again."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.metrics import live_actors, scrape, total
from tests.server import RESULT_KINDS, Server, wait_until

CAP = 2


def test_three_times_the_cap_all_complete_within_the_cap_and_survive_a_kill(make_server, repo):
    """At most one actor beyond the cap: a create at the cap has one, briefly, to initialize."""
    env = {"CRUCIBLE_MAX_LIVE_TASKS": CAP, "CRUCIBLE_SIM_STEP_MS": 150}
    server = make_server("sim", **env, CRUCIBLE_IDLE_TIMEOUT_S=60).start()
    server.register(repo)
    ids = [server.create().body["id"] for _ in range(3 * CAP)]
    peak = 0

    def settled() -> bool:
        nonlocal peak
        peak = max(peak, live_actors(server)["task"])
        return sum(server.task(t)["status"] == "running" for t in ids) >= CAP

    wait_until(settled, timeout=60)
    waiting = [t for t in ids if any(e["data"].get("waiting") for e in server.history(t))]
    assert len(waiting) >= CAP  # those created at the cap said so, in their history
    assert server.task(ids[-1])["status"] == "init_enqueue_provision"  # the newest still waits

    server.kill9()  # some tasks wait for a slot, some are mid-step
    server.start()
    for task_id in ids:
        server.wait_status(task_id, {"running"}, timeout=90)
        peak = max(peak, live_actors(server)["task"])
    assert peak <= CAP + 1
    for task_id in ids:
        kinds = Counter(e["kind"] for e in server.history(task_id))
        assert all(kinds[k] == 1 for k in RESULT_KINDS), kinds  # no step's result twice


def test_the_projects_of_a_runner_share_its_cap_and_never_provision_more_tasks_at_once(make_server, repo):
    """CRUCIBLE_MAX_LIVE_TASKS bounds a runner's task actors, not each project's: with two busy projects
    of one workspace (hosted by one runner), never more than the cap's tasks provision at once (from
    their durable histories); the rest wait for a slot, and all complete."""
    server = make_server("sim", CRUCIBLE_MAX_LIVE_TASKS=CAP, CRUCIBLE_SIM_STEP_MS=100).start()
    for name in ("a", "b"):
        server.register(repo, name=name)
    ids = [server.create(project=name).body["id"] for _ in range(3) for name in ("a", "b")]
    assert most_provisioning_at_once(server, ids) == CAP  # each project alone would have provisioned CAP
    assert sum(any(e["data"].get("waiting") for e in server.history(t)) for t in ids) >= len(ids) - CAP


def test_a_busy_project_beside_one_no_longer_in_use_provisions_up_to_the_whole_cap(make_server, repo):
    """No project holds a share: once b's task has let its actor go (at rest past its idle timeout), a
    provisions as many tasks at once as the cap allows."""
    env = {"CRUCIBLE_MAX_LIVE_TASKS": CAP, "CRUCIBLE_SIM_STEP_MS": 100, "CRUCIBLE_IDLE_TIMEOUT_S": 0.5}
    server = make_server("sim", **env).start()
    for name in ("a", "b"):
        server.register(repo, name=name)
    server.wait_status(server.create(project="b").body["id"], {"running"})
    wait_until(lambda: live_actors(server)["task"] == 0, timeout=30)
    ids = [server.create(project="a").body["id"] for _ in range(2 * CAP)]
    assert most_provisioning_at_once(server, ids) == CAP


def most_provisioning_at_once(server: Server, ids: list[str]) -> int:
    """Once all are running: the most of them between entering their first step and provisioned at any
    moment, from their durable histories."""
    edges = []  # (when, +1 entering the first step | -1 provisioned)
    for task_id in ids:
        server.wait_status(task_id, {"running"}, timeout=60)
        events = server.history(task_id)
        edges.append((next(e["at"] for e in events if e["status"] == "init_ensure_name"), 1))
        edges.append((next(e["at"] for e in events if e["kind"] == "task.initialized"), -1))
    return max(sum(step for _, step in sorted(edges)[: i + 1]) for i in range(len(edges)))


def test_tasks_at_rest_never_hold_the_slots_new_tasks_need(make_server, repo):
    """Tasks reaching rest one by one, with nobody waiting, used to keep every slot for their idle
    timeout (60 s here): the next task then waited that long to provision."""
    cap = 4
    env = {"CRUCIBLE_MAX_LIVE_TASKS": cap, "CRUCIBLE_SIM_STEP_MS": 20, "CRUCIBLE_IDLE_TIMEOUT_S": 60}
    server = make_server("sim", **env).start()
    server.register(repo)
    for _ in range(cap):
        server.wait_status(server.create().body["id"], {"running"}, timeout=30)
    latest = server.create().body["id"]
    assert server.wait_status(latest, {"running"}, timeout=30)["status"] == "running"
    assert not any(e["data"].get("waiting") for e in server.history(latest))


def test_idle_actors_go_and_a_quiet_project_goes_until_a_create_or_a_command_brings_it_back(
    make_server, repo
):
    """A project has no actor until a task needs one. A task at rest past its idle timeout lets its
    actor go (readable all the while), then its project, quiet with nothing live, goes too; a create or
    a command brings them back. Projects that go quiet together all go."""
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=20, CRUCIBLE_IDLE_TIMEOUT_S=1).start()
    projects = ("busy", "quiet", "other")
    for name in projects:
        server.register(repo, name=name)
    assert live_actors(server)["project"] == 0

    ids = [server.create(project="busy").body["id"] for _ in range(3)]
    for task_id in ids:
        server.wait_status(task_id, {"running"}, timeout=30)
    assert live_actors(server)["project"] == 1
    wait_until(lambda: live_actors(server)["task"] == 0, timeout=30)
    assert all(server.task(t)["status"] == "running" for t in ids)  # at rest without an actor
    wait_until(lambda: live_actors(server)["project"] == 0, timeout=30)

    with ThreadPoolExecutor(len(projects)) as at_once:  # so that they go quiet together
        created = list(at_once.map(lambda project: server.create(project=project).body["id"], projects))
    for task_id in created:
        server.wait_status(task_id, {"running"}, timeout=30)
    wait_until(lambda: live_actors(server)["project"] == 0, timeout=30)
    assert server.post(f"/v1/tasks/{ids[0]}/archive").status == 202  # a command brings it back too
    assert server.wait_status(ids[0], {"archived"}, timeout=30)["status"] == "archived"
    assert all(server.task(t)["status"] == "running" for t in ids[1:])


def test_an_idle_workspace_sleeps_and_its_next_request_makes_it_again(make_server, repo):
    """A workspace with no project live for its idle timeout leaves memory (both here, `default` too):
    its lists still answer, from its files, and its next create makes it again, projects and all."""
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=20, CRUCIBLE_IDLE_TIMEOUT_S=1).start()
    assert server.post("/v1/workspaces", {"name": "other"}).status == 201
    assert server.register(repo, workspace="other").status == 201
    tasks = "/v1/workspaces/other/projects/demo/tasks"
    first = server.post(tasks, {"prompt": "first"}).body["id"]
    server.wait_status(first, {"running"}, timeout=30)

    wait_until(lambda: total(scrape(server), "crucible_runner_sleeping") == 2, timeout=30)
    assert live_actors(server)["workspace"] == 0
    assert [t["id"] for t in server.get("/v1/workspaces/other/tasks").body["tasks"]] == [first]
    assert {w["name"] for w in server.get("/v1/workspaces").body["workspaces"]} == {"default", "other"}
    second = server.post(tasks, {"prompt": "second"}).body["id"]
    assert server.wait_status(second, {"running"}, timeout=30)["status"] == "running"
    assert server.post(f"/v1/tasks/{first}/archive").status == 202
    assert server.wait_status(first, {"archived"}, timeout=30)["status"] == "archived"


def test_beyond_the_cap_of_live_agents_a_task_waits_in_ensure_agent_until_one_is_killed(make_server, repo):
    """The cap is the workspace's: a running task's agent in one project holds the only slot, and a
    task of another project waits for it."""
    server = make_server("local", CRUCIBLE_MAX_LIVE_AGENTS=1).start()
    for name in ("demo", "other"):
        server.register(repo, name=name)
    first = server.create({"prompt": "first"}).body["id"]
    server.wait_status(first, {"running"}, timeout=90)
    second = server.create({"prompt": "second"}, project="other").body["id"]

    def waits() -> bool:
        return any(e["data"].get("waiting") == "agent" for e in server.history(second))

    wait_until(waits, timeout=60)
    record = server.task(second)
    assert record["status"] == "init_ensure_agent" and "agent slot" in record["status_message"]
    assert server.post(f"/v1/tasks/{first}/kill").status == 202
    server.wait_status(second, {"running"}, timeout=90)
    server.wait_status(first, {"killed"}, timeout=60)
