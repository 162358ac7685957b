"""Multi-host on one machine: a leader and two workers (sim provider), against the leader alone.

    PYTHONPATH=. .venv/bin/python bench/cluster.py [--runs 3] [--tasks 30]

Per run, on fresh data directories, each setup gets the same workload: `--tasks` creates from one client
(POST → 201, sequential), then the wait until every task is `running`. The workers take 12 tasks each
(capacity), the leader the rest. Then, with the cluster only:
- kill -9 of worker w1 (its process group and its actor system) while its tasks provision: the time until
  the leader reports it lost, and from its restart until every task is running;
- kill -9 of the leader the same way: the time from its restart until every task is running.
Duplicate side effects and lost tasks come from the sim provider's effects logs. Medians of the runs.
The two setups share the 2 cores: the cluster is not expected to be faster here, only to cost little.
"""

import argparse
import json
import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from actors.providers.sim import effects_log
from tests.server import Server, Worker, make_repo, wait_until

STEP_MS = "300"


def creates(leader: Server, count: int) -> tuple[list[str], list[float]]:
    ids, took = [], []
    for i in range(count):
        began = time.perf_counter()
        response = leader.create({"prompt": f"task {i}"})
        took.append((time.perf_counter() - began) * 1000)
        assert response.status == 201, response.body
        ids.append(response.body["id"])
    return ids, took


def all_running(leader: Server, ids: list[str], timeout: float = 300.0) -> None:
    def done() -> bool:
        for task_id in ids:
            response = leader.get(f"/v1/tasks/{task_id}")
            if response.status != 200 or response.body["status"] != "running":
                return False
            if response.body["steps"][-1]["status"] != "done":
                return False
        return True

    wait_until(done, timeout=timeout)


def timed(action: Callable[[], Any]) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began


def effects(*datas: pathlib.Path) -> tuple[int, int]:
    """(duplicate side effects, tasks that never made all four)."""
    seen: list[tuple[str, str]] = []
    for data in datas:
        if effects_log(data).exists():
            seen += [
                (e["task_id"], e["effect"])
                for e in map(json.loads, effects_log(data).read_text().splitlines())
            ]
    per_task: dict[str, int] = {}
    for task_id, _ in set(seen):
        per_task[task_id] = per_task.get(task_id, 0) + 1
    return len(seen) - len(set(seen)), sum(1 for n in per_task.values() if n < 4)


def alone(base: pathlib.Path, count: int) -> dict[str, float]:
    leader = Server(base / "alone", "sim", {"CRUCIBLE_SIM_STEP_MS": STEP_MS})
    try:
        leader.start()
        leader.register(make_repo(base / "repo-alone"))
        began = time.monotonic()
        ids, took = creates(leader, count)
        created = time.monotonic()
        all_running(leader, ids)
        return {
            "create p50 ms": statistics.median(took),
            "last create → all running s": time.monotonic() - created,
            "first create → all running s": time.monotonic() - began,
        }
    finally:
        leader.cleanup()


def cluster(base: pathlib.Path, count: int) -> dict[str, float]:
    leader = Server(base / "leader", "sim", {"CRUCIBLE_SIM_STEP_MS": STEP_MS})
    workers = [Worker(leader, base / name, name, capacity=12) for name in ("w1", "w2")]
    w1 = workers[0]
    try:
        leader.start()
        leader.register(make_repo(base / "repo"))
        for worker in workers:
            worker.start()
        began = time.monotonic()
        ids, took = creates(leader, count)
        created = time.monotonic()
        all_running(leader, ids)
        figures = {
            "create p50 ms": statistics.median(took),
            "last create → all running s": time.monotonic() - created,
            "first create → all running s": time.monotonic() - began,
        }
        more, _ = creates(leader, 8)  # w1 and w2 are full: these land on the leader
        for task_id in ids[:8]:  # frees 4 places on each worker
            leader.post(f"/v1/tasks/{task_id}/kill")
        for task_id in ids[:8]:
            leader.wait_status(task_id, {"killed"})
        fresh, _ = creates(leader, 8)  # on the workers again, provisioning when the kill comes
        time.sleep(0.4)
        w1.kill9()
        figures["worker lost → reported s"] = timed(
            lambda: wait_until(lambda: not w1.host()["up"], timeout=60)
        )
        figures["worker restart → all running s"] = timed(
            lambda: (w1.start(), all_running(leader, fresh + more))
        )
        again, _ = creates(leader, 6)
        time.sleep(0.4)
        leader.kill9()
        figures["leader restart → all running s"] = timed(
            lambda: (leader.start(), all_running(leader, again))
        )
        duplicates, lost = effects(leader.data, *(w.data for w in workers))
        figures["duplicate side effects"], figures["lost tasks"] = duplicates, lost
        return figures
    finally:
        for worker in workers:
            worker.cleanup()
        leader.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    runs: list[tuple[dict[str, float], dict[str, float]]] = []
    for run in range(args.runs):
        base = pathlib.Path(tempfile.mkdtemp(prefix="crucible-cluster-"))
        runs.append((alone(base, args.tasks), cluster(base, args.tasks)))
        print(f"run {run + 1}/{args.runs} done", flush=True)
    setup = f"median of {args.runs}, {args.tasks} tasks, {STEP_MS} ms steps"
    print(f"\n| figure ({setup}) | leader + 2 workers | leader alone | ratio |")
    print("|---|---|---|---|")
    result: dict[str, Any] = {}
    for name in runs[0][1]:
        ours = statistics.median(r[1][name] for r in runs)
        peer = statistics.median(r[0][name] for r in runs) if name in runs[0][0] else None
        ratio = f"{ours / peer:.2f}x" if peer else "—"
        print(f"| {name} | {ours:.2f} | {'—' if peer is None else f'{peer:.2f}'} | {ratio} |")
        result[name] = {"cluster": ours, "alone": peer, "runs": [r[1][name] for r in runs]}
    out = pathlib.Path(__file__).parent / "results" / "cluster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
