"""Archive, kill, retry and delete: docs/design.md, "Transitions", and the step sequences they run."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from actors.db import iso
from actors.task.transitions import next_step, refusal, repeated, retry_after
from actors.task.wakeups import RetryDue
from schemas.project_messages import TaskRemoved
from schemas.settings import Settings
from schemas.status import TaskStatus
from schemas.task_messages import CommandDone, TaskAction
from schemas.workspace_messages import TaskDeleted
from tests.helpers.task_harness import CLIENT, PROJECT, WORKSPACE, FakeProvider, Harness

PROVISIONING = ["init_ensure_name", "init_create_sandbox", "init_ensure_agent", "init_create_session"]
ACTIONS = [TaskAction.archive, TaskAction.kill, TaskAction.retry, TaskAction.delete, TaskAction.resume]


def allowed_by_design(action: TaskAction, status: TaskStatus) -> bool:
    """docs/design.md, "Transitions", written out: kill from anything but killed; archive from
    running, idle, error; retry from error; delete from archived, killed; resume (admin) from
    anything not at rest."""
    rest = {"running", "idle", "error", "archived", "killed"}
    return {
        TaskAction.kill: status != "killed",
        TaskAction.archive: status in {"running", "idle", "error"},
        TaskAction.retry: status == "error",
        TaskAction.delete: status in {"archived", "killed"},
        TaskAction.resume: status not in rest,
    }[action]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(TaskStatus))
def test_every_transition_is_allowed_or_refused_with_409_as_design_says(action, status):
    refused = refusal(action, status, draining=False)
    assert (refused is None) == allowed_by_design(action, status)
    assert refused is None or refused[0] == 409


def test_a_kill_while_killing_is_accepted_and_does_nothing_more():
    assert repeated(TaskAction.kill, TaskStatus.kill_finalize)
    assert not repeated(TaskAction.kill, TaskStatus.running)


def test_every_action_is_refused_with_503_while_draining():
    for action in ACTIONS:
        assert refusal(action, TaskStatus.running, draining=True) == (503, refusal(action, "x", True)[1])  # type: ignore[arg-type]


@pytest.fixture
def harness(tmp_path, monkeypatch):
    return Harness(tmp_path, FakeProvider(), monkeypatch)


@pytest.mark.parametrize("step", PROVISIONING)
def test_kill_during_each_step_interrupts_it_cleans_up_and_ends_killed(harness, step):
    harness.initialize()
    harness.run_until_status(step)
    in_flight = harness.provider.contexts[-1:] if step != "init_ensure_name" else []
    reply = harness.command("kill")
    assert isinstance(reply, CommandDone) and reply.changed
    harness.pump()
    assert all(ctx.cancelled.is_set() for ctx in in_flight)  # its waits were told to end
    assert harness.record()["status"] == "killed"
    assert harness.provider.calls[-1] == "destroy"
    assert harness.events()[-4:] == [
        ("task.status", "kill_destroy_sandbox"),
        ("task.status", "kill_finalize"),
        ("task.status", "killed"),
        ("task.kill", "killed"),
    ]
    seq_before = harness.seqs()
    harness.offload.ready, harness.offload.held = harness.offload.held, []  # the late outcome arrives
    harness.pump()
    assert harness.seqs() == seq_before and harness.record()["status"] == "killed"  # stale: ignored


def test_archive_of_a_running_task_releases_it_and_ends_archived(harness):
    harness.initialize()
    harness.pump()
    reply = harness.command("archive")
    assert isinstance(reply, CommandDone) and reply.changed
    harness.pump()
    record = harness.record()
    assert record["status"] == "archived" and harness.provider.calls[-1] == "destroy"
    assert [s["status"] for s in record["steps"]][-3:] == ["done", "done", "done"]
    assert harness.events()[-2:] == [("task.status", "archived"), ("task.archive", "archived")]
    assert harness.seqs() == list(range(1, len(harness.seqs()) + 1))


def test_kill_while_a_retry_waits_makes_the_pending_wakeup_stale(harness):
    from actors.providers.base import TransientError

    harness.provider.failures["create_sandbox"] = [TransientError("flaky")]
    harness.initialize()
    harness.pump()
    assert harness.record()["steps"][1]["status"] == "retrying"
    harness.command("kill")
    harness.pump()
    assert harness.record()["status"] == "killed"
    harness.fire_wakeup(RetryDue)  # the backoff's wakeup, after the kill: nothing happens
    assert harness.record()["status"] == "killed"
    assert "create_sandbox" not in harness.provider.calls[harness.provider.calls.index("destroy") :]


def test_delete_removes_the_files_then_the_workspace_answers_then_the_project_lets_the_actor_go(
    harness, tmp_path
):
    """The actor does not exit by itself: the project, told the task is gone, lets it go."""
    from thespian.actors import ActorExitRequest

    harness.initialize()
    harness.pump()
    harness.command("kill")
    harness.pump()
    assert harness.command("delete") is None  # answered by the workspace, once it forgot the task
    assert not (tmp_path / "tasks" / f"{'0' * 22}.sqlite").exists()
    assert not (tmp_path / "tasks" / f"{'0' * 22}.lock").exists()
    deleted = [m for a, m in harness.sent if a == WORKSPACE and isinstance(m, TaskDeleted)]
    assert len(deleted) == 1 and deleted[0].reply_to == CLIENT
    assert any(a == PROJECT and isinstance(m, TaskRemoved) for a, m in harness.sent)
    assert not any(isinstance(m, ActorExitRequest) for _, m in harness.sent)
    harness.let_go()  # the project's answer to TaskRemoved
    assert not (tmp_path / "tasks" / f"{'0' * 22}.sqlite").exists()


def test_a_refusal_carries_the_current_status(harness):
    harness.initialize()
    harness.pump()
    reply = harness.command("delete")
    assert reply.status == 409 and reply.code == "invalid_transition"
    assert reply.details == {"status": "running"}


NOW = datetime(2026, 12, 7, tzinfo=UTC)
LATER = iso(NOW + timedelta(seconds=60))  # the step's deadline


@pytest.mark.parametrize(
    ("attempts", "permanent", "deadline_at", "delay"),
    [
        (1, False, LATER, 0.5),  # backoff_base_s
        (2, False, LATER, 1.0),  # doubling
        (4, False, LATER, 4.0),
        (1, True, LATER, None),  # permanent: no retry
        (5, False, LATER, None),  # max_attempts spent
        (3, False, iso(NOW + timedelta(seconds=1.5)), None),  # the retry would start past the deadline
        (3, False, iso(NOW + timedelta(seconds=2.5)), 2.0),
    ],
)
def test_a_failed_attempt_is_retried_after_a_doubling_backoff_unless_it_must_give_up(
    attempts, permanent, deadline_at, delay
):
    assert retry_after(attempts, permanent, NOW, deadline_at, Settings(data_dir=Path("."))) == delay


def test_the_backoff_stops_doubling_at_its_longest():
    settings = Settings(data_dir=Path("."), max_attempts=20, backoff_max_s=30.0)
    assert retry_after(10, False, NOW, iso(NOW + timedelta(hours=1)), settings) == 30.0


def rows(*statuses: str) -> list[dict[str, str]]:
    names = ["init_ensure_name", "init_create_sandbox", "archive_release_sandbox", "archive_finalize"]
    return [{"name": name, "status": status} for name, status in zip(names, statuses, strict=False)]


@pytest.mark.parametrize(
    ("steps", "step"),
    [
        (rows("pending", "pending"), TaskStatus.init_ensure_name),
        (rows("done", "started"), TaskStatus.init_create_sandbox),  # resumed where it was
        (rows("done", "retrying"), TaskStatus.init_create_sandbox),
        (rows("done", "cancelled", "pending", "pending"), TaskStatus.archive_release_sandbox),
        (rows("done", "done"), None),  # at rest
        (rows("done", "failed", "pending"), None),  # waits for a user's retry
        ([], None),
    ],
)
def test_the_next_step_is_the_first_left_to_do_unless_one_failed(steps, step):
    assert next_step(steps) == step
