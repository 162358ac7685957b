"""The dashboard in a real headless browser: Debian's Chromium, driven by Playwright over its DevTools
protocol, against a real server (sim provider). What a user sees: the forms with the API's errors, a task
moving through its steps live (no reload), its timeline and events, the actions behind a confirmation,
and the page catching up after the server restarts.

Missing Chromium or Playwright fails these tests with the reason (scripts/test installs both); it
never skips them."""

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import Server

try:
    from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
except ImportError as exc:  # reported by the fixture, so that the rest of the suite still runs
    PLAYWRIGHT_MISSING: str | None = str(exc)
else:
    PLAYWRIGHT_MISSING = None
    expect.set_options(timeout=30_000)  # two shared cores: generous, and only ever waited out on failure

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium dials out at start, and this machine's closed network
# refuses it; the sandbox needs privileges a CI container lacks.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_RELOAD = "window.__crucibleNoReload"  # set once on the page: still there means the page never reloaded


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator["BrowserContext"]:
    if PLAYWRIGHT_MISSING:
        pytest.fail(f"playwright is not installed ({PLAYWRIGHT_MISSING}): scripts/test installs it")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found ({CHROMIUM}): scripts/test installs it with `apt-get install chromium` "
            "(as root, or with passwordless sudo); a browser download from a CDN is not used"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")  # fresh, and under the suite's leftover check
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1500, "height": 940},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: "BrowserContext") -> Iterator["Page"]:
    page = browser.new_page()
    crashes: list[str] = []
    page.on("pageerror", lambda exc: crashes.append(str(exc)))
    try:
        yield page
    finally:
        page.close()
    assert not crashes, f"uncaught errors in the page: {crashes}"


def open_dashboard(page: "Page", server: Server, fragment: str = "") -> None:
    page.goto(f"http://127.0.0.1:{server.port}/{fragment}")
    expect(page.locator("#conn")).to_have_text("live")
    page.evaluate(f"{NO_RELOAD} = true")


def screenshot(page: "Page", tmp_path: Path, name: str) -> Path:
    """Kept with the test's files and copied to tests/artifacts/ (ignored by git) for people to look at."""
    path = tmp_path / name
    page.screenshot(path=path, full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)
    print(f"screenshot: {ARTIFACTS / name}")
    return path


def confirm(page: "Page", action: str, accept: bool = True) -> None:
    page.click(f"#detail .actions button[data-action={action}]")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-ok" if accept else "button[value=cancel]").click()
    expect(dialog).to_be_hidden()


def feed_statuses(frames: list[str], task_id: str) -> list[str]:
    messages: list[dict[str, Any]] = [json.loads(f) for f in frames]
    return [m["task"]["status"] for m in messages if m.get("task", {}).get("id") == task_id]


def test_create_through_the_form_watch_it_run_and_kill_it(make_server, repo, page, tmp_path):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=300).start()
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: "/workspaces/" in ws.url and ws.on("framereceived", lambda f: frames.append(str(f))),
    )
    open_dashboard(page, server)

    project = page.locator("#project-form")
    project.locator("[name=name]").fill("Not A Name")
    project.locator("[name=repo]").fill(str(repo))
    project.locator("button[type=submit]").click()
    expect(project.locator(".form-error")).to_contain_text("422 validation_error")
    expect(project.locator(".form-error")).to_contain_text("name: String should match pattern")
    project.locator("[name=name]").fill("demo")
    project.locator("[name=repo]").fill(str(tmp_path / "nowhere"))
    project.locator("button[type=submit]").click()
    expect(project.locator(".form-error")).to_contain_text("422")
    project.locator("[name=repo]").fill(str(repo))
    project.locator("button[type=submit]").click()
    expect(page.locator("#projects")).to_contain_text("demo")
    expect(project.locator(".form-error")).to_be_hidden()

    form = page.locator("#task-form")
    form.locator("[name=prompt]").fill("Fix the login bug\nIt fails on empty passwords.")
    form.locator("[name=branch]").fill("-not-a-branch")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_contain_text("branch: Value error, not a branch name git accepts")
    form.locator("[name=branch]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"#/default/[0-9a-f]{22}$"))
    task_id = page.url.rsplit("/", 1)[1]
    expect(form.locator(".form-error")).to_be_hidden()

    badge = page.locator(f'#tasks tr[data-id="{task_id}"] .badge')
    expect(badge).to_have_text(re.compile(r"^init_"))  # seen while provisioning ...
    expect(badge).to_have_text("running")  # ... and then running, with no reload
    steps = page.locator("#d-steps")
    for step in ("init_ensure_name", "init_create_sandbox", "init_ensure_agent", "init_create_session"):
        expect(steps.locator(f'tr[data-step="{step}"] .step')).to_have_text("done")
    expect(page.locator('#d-events li[data-kind="task.initialized"]')).to_have_count(1)
    expect(page.locator("#d-events li")).to_have_count(11)
    # The list was driven by the workspace feed: it carried every step's status as it happened.
    seen = feed_statuses(frames, task_id)
    assert {"init_ensure_name", "init_create_sandbox", "init_create_session", "running"} <= set(seen), seen

    other = server.create({"prompt": "Add a dark mode", "title": "Dark mode"}).body["id"]
    expect(page.locator(f'#tasks tr[data-id="{other}"] .badge')).to_have_text("running")

    confirm(page, "kill", accept=False)  # cancelled: nothing happens
    assert server.task(task_id)["status"] == "running"
    confirm(page, "kill")
    expect(badge).to_have_text("killed")
    expect(page.locator("#d-status")).to_have_text("killed")
    expect(page.locator('#d-steps tr[data-step="killed"] .step')).to_have_text("done")
    expect(page.locator('#d-events li[data-kind="task.kill"]')).to_have_count(1)
    expect(page.locator("#detail button[data-action=kill]")).to_be_disabled()
    expect(page.locator("#detail button[data-action=delete]")).to_be_enabled()
    assert server.task(task_id)["status"] == "killed"

    assert server.post(f"/v1/tasks/{other}/kill").status == 202  # elsewhere: the API, not this page
    server.wait_status(other, {"killed"})
    assert server.request("DELETE", f"/v1/tasks/{other}").status == 204
    expect(page.locator(f'#tasks tr[data-id="{other}"]')).to_have_count(0)  # the feed said so
    assert page.evaluate(NO_RELOAD) is True
    assert screenshot(page, tmp_path, "dashboard.png").stat().st_size > 10_000


def test_an_error_is_visible_at_a_glance_and_retry_goes_through_a_confirmation(
    make_server, repo, page, tmp_path
):
    server = make_server("sim", CRUCIBLE_SIM_FAIL=1, CRUCIBLE_MAX_ATTEMPTS=2, CRUCIBLE_BACKOFF_BASE_S=0.1)
    server.start()
    assert server.register(repo).status == 201
    task_id = server.create({"prompt": "Doomed from the start"}).body["id"]
    server.wait_status(task_id, {"error"})
    open_dashboard(page, server, f"#/default/{task_id}")

    row = page.locator(f'#tasks tr[data-id="{task_id}"]')
    expect(row.locator(".badge")).to_have_text("error")
    expect(row.locator(".message")).to_contain_text("simulated transient failure")  # in the list itself
    expect(page.locator("#d-error")).to_contain_text("Failed at init_ensure_name after 2 attempts")
    expect(page.locator('#d-steps tr[data-step="init_ensure_name"] .step')).to_have_text("failed")
    expect(page.locator("#d-steps tr.step-error")).to_contain_text("simulated transient failure")
    expect(page.locator('#d-events li[data-kind="task.retry"]')).to_have_count(1)  # the backoff retry

    confirm(page, "retry")
    retries = page.locator('#d-events li[data-kind="task.retry"]')
    expect(retries).to_have_count(3)  # the user's, then the backoff's of the new budget
    expect(page.locator("#d-events")).to_contain_text("source=user")
    expect(page.locator('#d-events li[data-kind="task.error"]')).to_have_count(2)
    expect(row.locator(".badge")).to_have_text("error")
    confirm(page, "retry", accept=False)
    expect(page.locator('#d-events li[data-kind="task.retry"]')).to_have_count(3)
    page.click("#detail .actions button[data-action=archive]")  # archive is allowed from error: ...
    page.locator("#confirm button[value=cancel]").click()  # ... but cancelled here
    assert server.task(task_id)["status"] == "error"
    assert page.evaluate(NO_RELOAD) is True
    screenshot(page, tmp_path, "dashboard-error.png")


def test_the_page_resumes_with_its_cursor_after_the_server_restarts(make_server, repo, page):
    server = make_server("sim", CRUCIBLE_SIM_STEP_MS=50).start()
    assert server.register(repo).status == 201
    first = server.create({"prompt": "Before the restart"}).body["id"]
    server.wait_status(first, {"running"})
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    open_dashboard(page, server, f"#/default/{first}")
    expect(page.locator(f'#tasks tr[data-id="{first}"] .badge')).to_have_text("running")
    expect(page.locator("#d-events li")).to_have_count(11)

    server.stop()
    expect(page.locator("#conn")).to_have_text("reconnecting…")
    server.start()
    expect(page.locator("#conn")).to_have_text("live")
    second = server.create({"prompt": "After the restart"}).body["id"]
    expect(page.locator(f'#tasks tr[data-id="{second}"] .badge')).to_have_text("running")

    feed = [u for u in urls if "/v1/workspaces/default/events" in u]
    assert feed[0].endswith("since=0"), feed  # the first connection takes the whole workspace
    resumed = int(feed[-1].rsplit("=", 1)[1])
    assert resumed > 0, feed  # every reconnect continues from the cursor it had reached
    assert [u.rsplit("=", 1)[1] for u in urls if f"/v1/tasks/{first}/events" in u][-1] == "11"
    expect(page.locator("#d-events li")).to_have_count(11)  # nothing repeated across the restart
    assert page.evaluate(NO_RELOAD) is True


# Recorded shapes of real agents' ACP `session/update` notifications (agent-client-protocol's schema).
TOOL_CALL = {"toolCallId": "c1", "title": "Run pytest", "kind": "execute", "status": "pending"}
PLAN = [
    {"content": "Write the test", "priority": "high", "status": "completed"},
    {"content": "Fix the bug", "priority": "high", "status": "pending"},
]
UPDATES = [
    {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "Reading the tests"}},
    {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "I will "}},
    {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "add a test."}},
    {"sessionUpdate": "tool_call", **TOOL_CALL},
    {"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"},
    {"sessionUpdate": "plan", "entries": PLAN},
    {"sessionUpdate": "available_commands_update", "availableCommands": []},
]
RENDER = """(updates) => {
    const list = document.createElement("ol");
    updates.forEach((update, i) => talk({kind: "session.update", data: {agent_run: 1, acp_id: i + 1,
        message: {jsonrpc: "2.0", method: "session/update", params: {sessionId: "s", update}}}}, list));
    return [...list.children].map((li) => [li.className, li.textContent]);
}"""


def test_a_running_tasks_conversation_is_shown_live_and_takes_a_follow_up(make_server, repo, page, tmp_path):
    """A local task: the agent's messages (the mock echoes every call) appear folded but viewable, a
    follow-up sent from the box appears at once, and its echo follows, with no reload. Real agents'
    update kinds, as recorded: text chunks joined, tool calls and plans in a line, the rest folded."""
    server = make_server("local").start()
    assert server.register(repo).status == 201
    task_id = server.wait_status(server.create({"prompt": "hello"}).body["id"], {"running"}, timeout=90)["id"]
    open_dashboard(page, server, f"#/default/{task_id}")
    talk = page.locator("#d-talk")
    expect(talk.locator('li[data-update="mock/echo"]').first).to_be_visible()
    box = page.locator("#say-form")
    expect(box.locator("button[type=submit]")).to_be_enabled()
    box.locator("button[type=submit]").click()  # empty: the API's refusal, shown
    expect(box.locator(".form-error")).to_contain_text("422")
    box.locator("[name=text]").fill("Now add a test")
    box.locator("button[type=submit]").click()
    expect(talk.locator("li.you")).to_have_text(["hello", "Now add a test"])  # the first, then ours
    expect(talk.locator("li.other").last).to_contain_text("crucible-prompt-")  # the echo of it
    expect(box.locator(".form-error")).to_be_hidden()
    assert page.evaluate(NO_RELOAD) is True

    shown = page.evaluate(RENDER, UPDATES)
    assert shown[:5] == [
        ["agent thought", "Reading the tests"],
        ["agent", "I will add a test."],
        ["tool", "⚙ Run pytest pending"],
        ["tool", "⚙ c1 completed"],
        ["plan", "✓ Write the test\n· Fix the bug"],
    ]
    unknown_class, unknown_text = shown[5]
    assert unknown_class == "other" and unknown_text.startswith("available_commands_update")
    assert '"availableCommands"' in unknown_text  # folded, viewable
    assert screenshot(page, tmp_path, "dashboard-conversation.png").stat().st_size > 10_000
