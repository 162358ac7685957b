"""A handler that raises still answers its request at once (actors/guard.py), and logging never raises."""

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from actors.guard import disk_full
from actors.logs import Lossy, SharedLog
from actors.workspace import projection
from schemas.messages import Failure
from schemas.task_messages import TaskInitialized
from tests.helpers.addresses import Named
from tests.helpers.disk import full_disk
from tests.helpers.workspace import registered

CLIENT, TASK = Named("client"), Named("task")


def initialized(request_id: str) -> TaskInitialized:
    """A task's create reaching the workspace: it projects the task, then answers the client."""
    summary: dict[str, Any] = {"id": "t" * 22, "project": "demo", "title": "t", "branch": "b"}
    summary |= {"status": "init_enqueue_provision", "status_message": "", "updated_at": "", "seq": 1}
    return TaskInitialized(
        request_id=request_id,
        reply_to=CLIENT,
        created=True,
        record={},
        summary={**summary, "host": "leader"},
    )


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (full_disk(), 507, "disk_full"),
        (OSError(28, "No space left on device"), 507, "disk_full"),
        (KeyError("x"), 500, "internal_error"),
    ],
)
def test_a_request_whose_handler_raises_is_answered_at_once(tmp_path, monkeypatch, raised, status, code):
    """The workspace's projection write fails on the create path: the client gets its answer now (a full
    disk said so), not a 503 after the ask timeout; the workspace goes on with the next message."""
    actor, sent = registered(tmp_path, monkeypatch, ["demo"], [])
    sent.clear()

    def fail(conn: Any, summary: Any) -> None:
        raise raised

    upsert = projection.upsert
    monkeypatch.setattr(projection, "upsert", fail)
    actor.receiveMessage(initialized("r1"), TASK)
    [(to, answer)] = sent
    assert to == CLIENT and isinstance(answer, Failure)
    assert (answer.request_id, answer.status, answer.code) == ("r1", status, code)

    monkeypatch.setattr(projection, "upsert", upsert)
    sent.clear()
    actor.receiveMessage(initialized("r2"), TASK)
    assert [(to, type(msg).__name__) for to, msg in sent] == [(CLIENT, "TaskCreated")]
    assert actor.conn
    actor.conn.close()


def test_only_a_full_disk_is_told_as_one():
    assert disk_full(full_disk()) and disk_full(OSError(28, "No space left on device"))
    assert not disk_full(sqlite3.OperationalError("database is locked")) and not disk_full(OSError(5, "EIO"))


class FullOnce:
    """A file whose disk is full for one write, then has room again."""

    def __init__(self, file: Any) -> None:
        self.file, self.full = file, True

    def write(self, data: Any) -> int:
        if self.full:
            self.full = False
            raise OSError(28, "No space left on device")
        return int(self.file.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def test_a_log_line_that_cannot_be_written_is_dropped_and_the_next_one_is_written(tmp_path: Path):
    """A logger that raised turned the failure it reported into a hang: the answer was never sent. One
    that gave up after a failure would lose every later line, once the disk had room again."""
    stream = io.StringIO()
    lossy = Lossy(FullOnce(stream))  # type: ignore[arg-type]
    lossy.write("lost\n")
    lossy.write("kept\n")
    assert stream.getvalue() == "kept\n"

    log = SharedLog(tmp_path / "actors.log", max_bytes=100, keep=1)
    log._file = FullOnce(log._file)  # type: ignore[assignment]
    log.write("lost\n")
    log.write("kept\n")
    assert (tmp_path / "actors.log").read_text() == "kept\n"
