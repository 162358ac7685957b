"""A worker's tasks scanned when it joins (actors/project/mirror.py `scan`): which its project
activates, which it revives, and which it leaves at rest; on real task databases."""

from pathlib import Path
from typing import Any

import pytest

from actors.project import mirror
from actors.providers import agent_process
from actors.task.store import TaskStore, prepare_database, record_updates, task_db_path
from schemas.status import PROVISION_STEPS, RESULT_EVENT, TaskStatus

RESULTS: dict[TaskStatus, dict[str, Any]] = {
    TaskStatus.init_ensure_name: {"title": "t", "branch": "b"},
    TaskStatus.init_create_sandbox: {"id": "s", "path": "/p"},
    TaskStatus.init_ensure_agent: {"endpoint": "http://127.0.0.1:1", "pid": 1},
    TaskStatus.init_create_session: {"session_id": "s"},
}


def task(data: Path, task_id: str, provider: str, steps_done: int) -> str:
    """A task database whose first `steps_done` provisioning steps are done."""
    path = task_db_path(data, task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    prepare_database(path)
    store = TaskStore(path, "NORMAL")
    fields = {"id": task_id, "workspace": "w", "project": "p", "title": "t", "branch": "b"}
    store.create(fields | {"branch_given": 0, "prompt": "p", "agent": "mock", "provider": provider}, {})
    for step in PROVISION_STEPS[:steps_done]:
        store.enter(step, 1, "2999-01-01T00:00:00Z")
        result = RESULTS.get(step, {})
        store.finish(step, RESULT_EVENT.get(step), result, record_updates(step, result))
    store.close()
    return task_id


def test_a_joining_worker_activates_unfinished_tasks_and_running_ones_with_a_live_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = len(PROVISION_STEPS)
    halfway = task(tmp_path, "halfway", "local", 2)
    talking = task(tmp_path, "talking", "local", everything)
    lost = task(tmp_path, "lost", "local", everything)
    quiet = task(tmp_path, "quiet", "sim", everything)
    monkeypatch.setattr(agent_process, "live_task_ids", lambda sandboxes: {talking})
    scanned = mirror.scan("worker", tmp_path, [halfway, talking, lost, quiet])
    assert (scanned.task_ids, scanned.revive) == ([halfway, talking], [lost])
