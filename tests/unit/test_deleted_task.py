"""Commands that race a delete: the workspace routes a command by its projection, which hears of a
delete only once the task's actor has removed the files, so a command can reach a task actor after the
delete, or activate one for a task already gone. Each is answered 404, and nothing is made on disk."""

import pytest

from schemas.messages import Failure
from schemas.project_messages import TaskRemoved
from tests.helpers.task_harness import PROJECT, FakeProvider, Harness

TASK = "0" * 22


@pytest.fixture
def deleted(tmp_path, monkeypatch) -> Harness:
    """A task archived, then deleted by its actor, which the project has not yet let go."""
    harness = Harness(tmp_path, FakeProvider(), monkeypatch)
    harness.initialize(TASK)
    harness.pump()
    harness.command("archive")
    harness.pump()
    harness.command("delete")
    assert not list((tmp_path / "tasks").glob(f"{TASK}*"))
    return harness


def not_found(reply: object) -> bool:
    return isinstance(reply, Failure) and (reply.status, reply.code) == (404, "task_not_found")


@pytest.mark.parametrize("action", ["kill", "archive", "retry", "delete"])
def test_a_command_reaching_the_actor_after_its_delete_is_a_404(deleted, action):
    """It used to fail the handler (`assert self.store`), which the API answered 500."""
    assert not_found(deleted.command(action))


def test_a_command_for_a_task_deleted_before_it_came_is_a_404_and_leaves_no_file(deleted):
    """The actor the project made for the command opens no database (SQLite would make an empty one:
    the deleted task's file was back), and tells the project the task is gone, which lets the actor go;
    meanwhile each further command is a 404 too."""
    deleted.let_go()
    deleted.sent.clear()
    assert not_found(deleted.command("kill"))
    assert not list((deleted.data / "tasks").glob(f"{TASK}*"))
    told = [m for a, m in deleted.sent if a == PROJECT]
    assert [(type(m), m.task_id) for m in told] == [(TaskRemoved, TASK)]
    assert not_found(deleted.command("archive"))
    assert not list((deleted.data / "tasks").glob(f"{TASK}*"))


def test_the_late_outcome_of_an_interrupted_step_after_the_delete_is_ignored(tmp_path, monkeypatch):
    """A kill interrupts a step in flight; its outcome can come after the task is deleted, and it failed
    the handler (`assert self.store` ran before the staleness check)."""
    from structlog.testing import capture_logs
    from thespian.actors import WatchMessage

    from tests.helpers.task_harness import SELF

    harness = Harness(tmp_path, FakeProvider(), monkeypatch)
    harness.initialize(TASK)
    harness.run_until_status("init_create_sandbox")  # its work done, the outcome held back
    late = harness.offload.held[:]
    harness.offload.held.clear()
    assert late, "the step's outcome is held back"
    harness.command("kill")
    harness.pump()
    assert harness.record()["status"] == "killed"
    harness.command("delete")
    harness.offload.ready += late
    with capture_logs() as logged:
        harness.actor.receiveMessage(WatchMessage([]), SELF)  # delivers the outcome
    assert not harness.offload.ready  # delivered
    assert [e["event"] for e in logged if e["log_level"] == "error"] == []
