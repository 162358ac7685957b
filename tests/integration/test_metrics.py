"""GET /metrics on a real server: it parses with prometheus-client's parser, and its figures move."""

import asyncio

import aiohttp

from tests.helpers.metrics import scrape, total
from tests.server import make_repo, wait_until


def test_metrics_parse_and_move_with_creates_steps_errors_actors_and_subscribers(make_server, tmp_path):
    """Half of all provider calls fail (transiently, retried at once): creates, step durations, provider
    errors, tasks by status and queue waits all show up; a websocket subscriber is counted while open."""
    server = make_server("sim", CRUCIBLE_SIM_FAIL=0.5, CRUCIBLE_MAX_ATTEMPTS=30, CRUCIBLE_BACKOFF_BASE_S=0.01)
    server.start()
    server.register(make_repo(tmp_path / "repo"))
    before = scrape(server)
    assert total(before, "crucible_create_seconds_count") == 0
    assert total(before, "crucible_live_actors", kind="workspace") == 1
    assert total(before, "crucible_live_actors", kind="project") == 0  # started when a task needs it

    ids = [server.create().body["id"] for _ in range(5)]
    for task_id in ids:
        server.wait_status(task_id, {"running"}, timeout=60)
    after = scrape(server)
    assert total(after, "crucible_create_seconds_count") == 5
    assert total(after, "crucible_step_seconds_count", step="init_create_sandbox") == 5
    # tasks by status come from the projection, which hears of a task's last step just after its own database
    wait_until(lambda: total(scrape(server), "crucible_tasks", status="running") == 5)
    assert total(after, "crucible_provider_errors_total") > 0
    assert total(after, "crucible_queue_wait_seconds_count", actor="workspace", message="TaskChanged") > 0
    assert total(after, "crucible_live_actors", kind="task") >= 1
    # the runners host them all: one runner per core by default, each counting its own
    assert total(after, "crucible_runner_actors", kind="workspace") == 1
    assert total(after, "crucible_runner_actors", kind="task") >= 1
    assert total(after, "crucible_runner_wait_seconds_count") > 0

    async def subscribed() -> float:
        url = f"ws://127.0.0.1:{server.port}/v1/tasks/{ids[0]}/events"
        async with aiohttp.ClientSession() as session, session.ws_connect(url):
            return total(await asyncio.to_thread(scrape, server), "crucible_websocket_subscribers")

    assert asyncio.run(subscribed()) == 1
    wait_until(lambda: total(scrape(server), "crucible_websocket_subscribers") == 0)
