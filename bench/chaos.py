"""Chaos: tasks created under fire while the whole server is `kill -9`ed every 1-5 s for a minute.

    PYTHONPATH=. .venv/bin/python bench/chaos.py [--tasks 500] [--seconds 60] [--step-ms 200]

A client keeps creating tasks (sim provider) while the server's process group and every actor process
are killed at random intervals and restarted at once. Then the server runs undisturbed until every task
is at rest, and the invariants of docs/guarantees.md are checked on every acknowledged task: it exists
and is `running`; one result event per step; `seq` contiguous; the projection agrees with the task
database; each simulated side effect happened once (`<data>/sim/effects.jsonl`); no process left.
"""

import argparse
import json
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from tests.server import RESULT_KINDS, Server, make_repo


def create_loop(server: Server, total: int, stop: threading.Event, acked: list[str]) -> None:
    """Creates until `total` were acknowledged; a create refused or cut by a kill is simply retried."""
    while len(acked) < total and not stop.is_set():
        try:
            response = server.create({"prompt": f"chaos {len(acked)}"}, timeout=5)
        except OSError:
            time.sleep(0.05)
            continue
        if response.status == 201:
            acked.append(response.body["id"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--step-ms", type=int, default=200)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="crucible-chaos-"))
    server = Server(base / "data", "sim", {"CRUCIBLE_SIM_STEP_MS": str(args.step_ms)})
    acked: list[str] = []
    kills = 0
    report: dict[str, object] = {}
    try:
        server.start()
        server.register(make_repo(base / "repo"))
        stop = threading.Event()
        creator = threading.Thread(target=create_loop, args=(server, args.tasks, stop, acked))
        creator.start()
        ends = time.monotonic() + args.seconds
        while time.monotonic() < ends:
            time.sleep(random.uniform(1, 5))
            server.kill9()
            kills += 1
            server.start()
        creator.join(600)
        stop.set()
        began = time.monotonic()
        for task_id in acked:
            server.wait_status(task_id, {"running"}, timeout=600)
        settle_s = time.monotonic() - began
        broken: list[str] = []
        listed = {t["id"]: t for t in paged(server)}
        for task_id in acked:
            record, history = server.task(task_id), server.history(task_id)
            kinds = Counter(e["kind"] for e in history)
            ok = all(kinds[k] == 1 for k in RESULT_KINDS)
            ok = ok and [e["seq"] for e in history] == list(range(1, len(history) + 1))
            ok = ok and listed.get(task_id, {}).get("seq") == record["seq"]
            if not ok:
                broken.append(task_id)
        effects = Counter(
            (e["task_id"], e["effect"])
            for e in map(json.loads, (server.data / "sim" / "effects.jsonl").read_text().splitlines())
        )
        report = {
            "kills": kills,
            "acknowledged tasks": len(acked),
            "all running after the last restart (s)": round(settle_s, 1),
            "tasks breaking an invariant": len(broken),
            "duplicate side effects": sum(n - 1 for n in effects.values() if n > 1),
            "lost tasks": sum(1 for t in acked if server.get(f"/v1/tasks/{t}").status != 200),
        }
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    print("| figure | value |\n|---|---|")
    for key, value in report.items():
        print(f"| {key} | {value} |")
    out = Path(__file__).parent / "results" / "chaos.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


def paged(server: Server) -> list[dict[str, object]]:
    tasks, cursor = [], ""
    while True:
        query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
        body = server.get(f"/v1/workspaces/default/tasks?{query}").body
        tasks += body["tasks"]
        cursor = body["next_cursor"]
        if not cursor:
            return tasks


if __name__ == "__main__":
    main()
