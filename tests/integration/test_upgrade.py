"""A data directory made before databases carried a schema version (tests/fixtures: made by that code with
the sim provider, then kill -9 with four tasks mid-provisioning) is taken over by this code: every task
resumes, its history intact, no side effect twice. One database newer than the code stops the start."""

import json
import sqlite3
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from actors.cluster import actor as cluster
from actors.migrations import stored_version
from actors.project import registry
from actors.task import store as task_store
from actors.workspace import projection
from tests.server import Server

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data-before-schema-versions.tar.gz"


def unpack(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def histories(data: Path) -> dict[str, list[tuple[int, str, str, str]]]:
    """Every task's events as stored, read-only."""
    found = {}
    for path in sorted((data / "tasks").glob("*.sqlite")):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        found[path.stem] = [tuple(r) for r in conn.execute("SELECT seq, kind, status, data FROM events")]
        conn.close()
    return found


def test_an_older_data_directory_resumes_every_task_with_its_history(make_server, tmp_path: Path) -> None:
    data = unpack(tmp_path)
    before = histories(data)
    last = {task_id: events[-1][2] for task_id, events in before.items()}  # each task's status at the kill
    assert len(last) == 9 and sum(status.startswith("init_") for status in last.values()) == 4
    server: Server = make_server("sim", data=data, CRUCIBLE_SIM_STEP_MS=20).start()

    for task_id, events in before.items():
        record = server.wait_status(task_id, {"running", "archived", "killed"})
        assert record["status"] == ("running" if last[task_id].startswith("init_") else last[task_id])
        after = [(e["seq"], e["kind"], e["status"], e["data"]) for e in server.history(task_id)]
        kept = [(seq, kind, status, json.loads(data)) for seq, kind, status, data in events]
        assert after[: len(kept)] == kept  # the history is intact
        assert [e[0] for e in after] == list(range(1, len(after) + 1))  # seq stays contiguous
    listed = [server.get(f"/v1/workspaces/{ws}/tasks").body["tasks"] for ws in ("default", "team")]
    assert {t["id"] for tasks in listed for t in tasks} == set(before)

    effects = Counter(
        (e["task_id"], e["effect"])
        for e in map(json.loads, (data / "sim" / "effects.jsonl").read_text().splitlines())
    )
    assert effects and max(effects.values()) == 1  # no sandbox, agent, session or prompt twice
    replay = server.create({"prompt": "keyed"}, headers={"Idempotency-Key": "k-1"})
    assert replay.status == 200 and replay.body["id"] in before  # the project's keys survived

    assert server.stop() == 0
    # A task's database is migrated by its actor when it opens it: the resumed ones were; those at rest
    # are read as they are until their next change (read above, through the API).
    for task_id in (t for t, status in last.items() if status.startswith("init_")):
        assert stored_version(task_store.task_db_path(data, task_id)) == task_store.SCHEMA.version
    # Workspaces and the cluster open theirs at start-up; a project its own when it starts (`demo`, to
    # resume its tasks; `web` had none to resume).
    opened = [(path, projection.SCHEMA) for path in data.glob("workspaces/*/workspace.sqlite")]
    opened += [(data / "cluster.sqlite", cluster.SCHEMA)]
    opened += [(data / "workspaces" / "default" / "projects" / "demo.sqlite", registry.SCHEMA)]
    for path, schema in opened:
        assert stored_version(path) == schema.version, path


def test_a_database_newer_than_the_code_stops_the_start_with_its_name(make_server, tmp_path: Path) -> None:
    data = unpack(tmp_path)
    newer = next((data / "tasks").glob("*.sqlite"))
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    server: Server = make_server("sim", data=data).start(wait=False)
    assert server.proc is not None
    assert server.proc.wait(30) == 2
    refusal = [json.loads(line) for line in server.log.read_text().splitlines() if "serve.refused" in line]
    assert refusal and str(newer) in refusal[0]["reason"] and "schema version 99" in refusal[0]["reason"]
    assert stored_version(newer) == 99
