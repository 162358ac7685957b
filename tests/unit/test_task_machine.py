"""The task actor's step machine, driven message by message with a fake provider."""

import fcntl
import json
from typing import Any

import pytest

from actors.providers.base import PermanentError, TransientError
from actors.task.wakeups import DeadlineDue, IdleDue, ProjectDue, ResumeDue, RetryDue
from schemas.task_messages import TaskInitialized
from tests.helpers.disk import full_disk
from tests.helpers.task_harness import CLEAN_EVENTS, CLIENT, PROJECT, WORKSPACE, FakeProvider, Harness

STEPS = ["init_ensure_name", "init_create_sandbox", "init_ensure_agent", "init_create_session"]
CALL_OF_STEP = {
    "init_ensure_name": "ensure_name",
    "init_create_sandbox": "create_sandbox",
    "init_ensure_agent": "ensure_agent",
    "init_create_session": "open_session",
}


@pytest.fixture
def harness(tmp_path, monkeypatch):
    return Harness(tmp_path, FakeProvider(), monkeypatch, backoff_base_s=0.5)


def test_initialize_makes_the_record_durable_and_replies_through_the_workspace(harness):
    harness.initialize()
    replies = [m for a, m in harness.sent if a == WORKSPACE and isinstance(m, TaskInitialized)]
    assert len(replies) == 1 and replies[0].created and replies[0].reply_to == CLIENT
    assert replies[0].record["status"] == "init_enqueue_provision"
    assert harness.events() == [("task.created", "init_enqueue_provision")]
    assert harness.provider.calls == []  # provisioning has not started before the reply


def test_clean_provisioning_follows_the_canonical_event_table(harness):
    harness.initialize()
    harness.pump()
    assert harness.events() == CLEAN_EVENTS
    assert harness.seqs() == list(range(1, 12))
    record = harness.record()
    assert record["status"] == "running"
    assert record["sandbox"]["path"].endswith(record["id"])
    assert record["agent_endpoint"] == "http://127.0.0.1:1"
    assert record["session_id"] == "session-1"
    assert [s["status"] for s in record["steps"]] == ["done"] * 5


def test_a_repeated_initialize_is_idempotent(harness):
    harness.initialize()
    harness.pump()
    harness.sent.clear()
    harness.initialize()
    harness.pump()
    reply = next(m for a, m in harness.sent if isinstance(m, TaskInitialized))
    assert reply.created is False
    assert harness.events() == CLEAN_EVENTS


@pytest.mark.parametrize("step", STEPS)
def test_a_transient_failure_retries_with_backoff_and_one_result_event(harness, step):
    harness.provider.failures[CALL_OF_STEP[step]] = [TransientError("flaky")]
    harness.initialize()
    harness.pump()
    record = harness.record()
    assert record["status"] == step and record["status_message"] == "retrying: flaky"
    retry = json.loads(
        harness.actor.store._conn.execute("SELECT data FROM events WHERE kind = 'task.retry'").fetchone()[0]
    )
    assert retry["attempt"] == 1 and retry["source"] == "backoff" and retry["error"] == "flaky"
    assert next(w for w in harness.wakeups if isinstance(w[1], RetryDue))[0] == pytest.approx(0.5)
    harness.fire_wakeup(RetryDue)
    assert harness.record()["status"] == "running"
    kinds = [k for k, _ in harness.events()]
    assert kinds.count("task.retry") == 1
    assert [k for k in kinds if k not in ("task.retry",)] == [k for k, _ in CLEAN_EVENTS]
    assert next(s for s in harness.record()["steps"] if s["name"] == step)["attempts"] == 2


def test_backoff_doubles_per_attempt(harness):
    harness.provider.failures["create_sandbox"] = [TransientError("a"), TransientError("b")]
    harness.initialize()
    harness.pump()
    harness.fire_wakeup(RetryDue)
    delays = [d for d, p in harness.wakeups if isinstance(p, RetryDue)]
    assert delays == [pytest.approx(1.0)]


def test_a_permanent_failure_ends_in_error_with_the_step_and_message(harness):
    harness.provider.failures["ensure_agent"] = [PermanentError("agent 'claude' cannot be installed")]
    harness.initialize()
    harness.pump()
    record = harness.record()
    assert record["status"] == "error"
    assert record["error"]["step"] == "init_ensure_agent"
    assert record["error"]["message"] == "agent 'claude' cannot be installed"
    assert harness.events()[-1] == ("task.error", "error")
    assert "open_session" not in harness.provider.calls


def test_attempts_are_bounded(tmp_path, monkeypatch):
    provider = FakeProvider()
    provider.failures["create_sandbox"] = [TransientError("down")] * 10
    harness = Harness(tmp_path, provider, monkeypatch, max_attempts=3, backoff_base_s=0.01)
    harness.initialize()
    harness.pump()
    harness.fire_wakeup(RetryDue)
    harness.fire_wakeup(RetryDue)
    record = harness.record()
    assert record["status"] == "error" and record["error"]["attempts"] == 3
    assert provider.calls.count("create_sandbox") == 3


def test_a_step_past_its_deadline_ends_in_error_and_its_late_outcome_is_ignored(harness):
    harness.initialize()
    harness.offload.hold = True  # the first step's work never comes back in time
    harness.pump()
    harness.fire_wakeup(DeadlineDue)
    record = harness.record()
    assert record["status"] == "error"
    assert record["error"] == {
        **record["error"],
        "step": "init_ensure_name",
        "message": "step deadline exceeded",
    }
    harness.offload.ready, harness.offload.held = harness.offload.held, []
    harness.pump()
    assert harness.record()["status"] == "error"
    assert "task.named" not in [k for k, _ in harness.events()]


def test_a_stale_retry_wakeup_is_ignored(harness):
    harness.provider.failures["create_sandbox"] = [TransientError("flaky")]
    harness.initialize()
    harness.pump()
    stale = next(w for w in harness.wakeups if isinstance(w[1], RetryDue))
    harness.fire_wakeup(RetryDue)
    calls = list(harness.provider.calls)
    from thespian.actors import WakeupMessage

    harness.actor.receiveMessage(WakeupMessage(stale[0], stale[1]), "self")
    harness.pump()
    assert harness.provider.calls == calls


@pytest.mark.parametrize("crash_in", STEPS)
def test_resume_after_a_crash_continues_from_the_interrupted_step(harness, crash_in):
    harness.initialize()
    harness.run_until_status(crash_in)
    calls_before = list(harness.provider.calls)
    harness.crash()
    harness.activate()
    assert harness.record()["status"] == "running"
    events = harness.events()
    assert [e for e in events if e[0] != "task.status"] == [e for e in CLEAN_EVENTS if e[0] != "task.status"]
    entered = [s for k, s in events if k == "task.status"]
    assert entered.count(crash_in) == 2  # re-entered after the restart; no other step re-entered
    assert len(entered) == 6
    assert harness.seqs() == list(range(1, len(events) + 1))
    # Steps finished before the crash are not run again; the interrupted one is.
    finished = STEPS[: STEPS.index(crash_in)]
    for step in finished:
        assert harness.provider.calls.count(CALL_OF_STEP[step]) == 1
    assert (
        harness.provider.calls.count(CALL_OF_STEP[crash_in]) == calls_before.count(CALL_OF_STEP[crash_in]) + 1
    )


@pytest.mark.parametrize("step", STEPS)
def test_a_write_that_fails_mid_step_is_mended_by_running_the_step_again(harness, monkeypatch, step):
    """A full disk failed the write of a step's result: the task had nothing in flight and its step stayed
    `started` until a restart. Now, as after a crash, it resumes from its database after a backoff that
    doubles while writes fail: the step runs again, its result is written once, and it reaches running."""
    harness.initialize()
    assert harness.actor.store
    finish, failures = harness.actor.store.finish, [full_disk(), full_disk()]

    def failing_finish(done: Any, *args: Any) -> None:
        if done.value == step and failures:
            raise failures.pop()
        finish(done, *args)

    monkeypatch.setattr(harness.actor.store, "finish", failing_finish)

    def resumes() -> list[float]:
        return [delay for delay, payload in harness.wakeups if isinstance(payload, ResumeDue)]

    harness.pump()
    assert harness.record()["status"] == step and resumes() == [0.5]  # its result unwritten
    harness.fire_wakeup(ResumeDue)  # the disk still full: once more, later
    assert resumes() == [1.0]
    harness.fire_wakeup(ResumeDue)
    assert harness.record()["status"] == "running"
    events = harness.events()
    assert [e for e in events if e[0] != "task.status"] == [e for e in CLEAN_EVENTS if e[0] != "task.status"]
    assert harness.provider.calls.count(CALL_OF_STEP[step]) == 3


def test_the_prompt_is_sent_at_most_once_across_a_crash(harness):
    harness.initialize()
    harness.pump()
    assert harness.provider.calls.count("send_prompt") == 1
    # A crash after the prompt went out but before the step was recorded done:
    store = harness.actor.store
    store._conn.execute(
        "UPDATE steps SET status='started', finished_at=NULL WHERE name='init_create_session'"
    )
    store._conn.execute("UPDATE steps SET status='pending' WHERE name='running'")
    store._conn.execute("UPDATE task SET status='init_create_session'")
    harness.crash()
    harness.activate()
    assert harness.record()["status"] == "running"
    assert harness.provider.calls.count("open_session") == 2  # adopted on the agent's side
    assert harness.provider.calls.count("send_prompt") == 1


def test_activating_a_task_at_rest_does_nothing_but_report_it(harness):
    harness.initialize()
    harness.pump()
    calls = list(harness.provider.calls)
    harness.crash()
    harness.activate()
    assert harness.provider.calls == calls
    assert harness.events() == CLEAN_EVENTS


def test_a_task_at_rest_asks_to_go_after_the_idle_timeout_and_the_next_actor_opens_it(harness):
    """It asks with the count of messages the project routed to it; let go, it releases its lock, and
    the actor made for the task's next message resumes it with nothing to redo."""
    from schemas.project_messages import Passivate

    harness.initialize()
    harness.pump()
    asked = [m for a, m in harness.sent if a == PROJECT and isinstance(m, Passivate)]
    assert [(m.routed, m.resting) for m in asked] == [(1, True)]  # at rest: evictable, if a task waits
    harness.fire_wakeup(IdleDue)
    asked = [m for a, m in harness.sent if a == PROJECT and isinstance(m, Passivate)][1:]
    assert [(m.task_id, m.routed, m.queued, m.resting) for m in asked] == [("0" * 22, 1, False, False)]
    calls = list(harness.provider.calls)
    harness.let_go()
    harness.activate()
    assert harness.record()["status"] == "running" and harness.provider.calls == calls


def test_told_to_stay_an_actor_still_at_rest_asks_again_after_another_idle_timeout(harness):
    """The project answers Stay when it routed a message the actor had not handled when it asked: a
    command that changes nothing (follow) leaves it at rest, and it asks again, counting that one."""
    from schemas.project_messages import Passivate, Stay

    harness.initialize()
    harness.pump()
    harness.fire_wakeup(IdleDue)
    harness.command("follow")
    harness.sent.clear()
    harness.actor.receiveMessage(Stay(), PROJECT)
    assert [m.resting for _, m in harness.sent if isinstance(m, Passivate)] == [True]
    harness.fire_wakeup(IdleDue)
    assert [m.routed for _, m in harness.sent if isinstance(m, Passivate)] == [2, 2]


@pytest.mark.parametrize("fails", ["record", "database"])
def test_a_create_that_cannot_write_is_answered_and_lets_its_actor_go(harness, monkeypatch, fails):
    """A full disk failed the create (its record, or its new database): the client is answered 507 at
    once, the actor asks to go, and once let go nobody holds the task; the next create works. Before, it
    stayed bound to the task it could not make, holding a slot."""
    from pathlib import Path

    from actors.task.store import TaskStore, task_db_path
    from schemas.messages import Failure
    from schemas.project_messages import Passivate

    with monkeypatch.context() as disk:
        if fails == "record":
            disk.setattr(TaskStore, "create", failing_create)
        else:
            disk.setattr(Path, "write_bytes", failing_write)
        harness.initialize()
    answers = [(a, type(m)) for a, m in harness.sent if a in (CLIENT, PROJECT)]
    assert answers == [(CLIENT, Failure), (PROJECT, Passivate)]
    assert [m.status for _, m in harness.sent if isinstance(m, Failure)] == [507]
    harness.sent.clear()
    harness.let_go()
    with task_db_path(harness.data, "0" * 22).with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds the task it could not make
    assert not task_db_path(harness.data, "0" * 22).exists() or fails == "record"  # whole or absent
    second = "1" * 22
    harness.initialize(second)
    harness.pump()
    assert harness.record()["id"] == second and harness.record()["status"] == "running"


def failing_create(store: Any, fields: Any, data: Any) -> bool:
    raise full_disk()


def failing_write(path: Any, data: bytes) -> int:
    """Half the bytes, then the disk is full."""
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    raise OSError(28, "No space left on device")


def test_activity_while_idle_cancels_the_passivation(harness):
    from schemas.project_messages import Passivate

    harness.initialize()
    harness.pump()
    stale = next(w for w in harness.wakeups if isinstance(w[1], IdleDue))
    harness.initialize()  # a replayed create reaches the live actor
    harness.pump()
    from thespian.actors import WakeupMessage

    harness.actor.receiveMessage(WakeupMessage(stale[0], stale[1]), "self")
    assert not [m for a, m in harness.sent if isinstance(m, Passivate) and not m.resting]


def test_every_committed_event_is_pushed_to_the_hub_once_in_order(harness):
    harness.initialize()
    assert [e["kind"] for m in harness.pushed for e in m.events] == ["task.created"]  # before provisioning
    harness.pump()
    assert [e["seq"] for m in harness.pushed for e in m.events] == list(range(1, 12))


def test_summaries_closer_than_the_gap_reach_the_workspace_together_and_rest_goes_at_once(harness):
    """Steps of a few ms each cost the workspace one summary per gap, not one per step: the first
    change after the create waits for a wakeup, and rest is projected at once."""
    from schemas.workspace_messages import TaskChanged

    def projected() -> list[str]:
        return [m.summary.status for a, m in harness.sent if a == WORKSPACE and isinstance(m, TaskChanged)]

    harness.initialize()
    harness.run_until_status("init_create_sandbox")
    assert projected() == []  # moved twice within the gap: nothing sent yet, one wakeup due
    assert [p for _, p in harness.wakeups].count(ProjectDue()) == 1
    harness.fire_wakeup(ProjectDue)
    assert projected() == ["init_create_sandbox"]  # the latest summary, once
    harness.offload.ready += harness.offload.held
    harness.pump()
    assert projected()[-1] == "running" and len(projected()) <= 3


def test_deleting_a_passive_task_leaves_its_queued_resume_nothing_to_do(harness):
    """A command activates a passive task, which queues its resume; a delete then closes the task, and
    that resume used to fail on the closed database."""
    from structlog.testing import capture_logs

    harness.initialize()
    harness.pump()
    harness.let_go()
    with capture_logs() as logged:
        harness.command("archive")  # activated, resumed, archived: at rest again
        harness.pump()
        harness.let_go()
        harness.command("delete")
        harness.pump()
    assert not (harness.data / "tasks" / f"{'0' * 22}.sqlite").exists()
    assert [e["event"] for e in logged if e["log_level"] == "error"] == []
