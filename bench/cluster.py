"""Multi-host on one machine: a leader and two workers (sim provider), against the leader alone.

    PYTHONPATH=. .venv/bin/python bench/cluster.py [--runs 3] [--tasks 30]

Per run, on fresh data directories, each setup gets the same workload: `--tasks` creates from one client
(POST → 201, sequential), then the wait until every task is `running`. The workers take 12 tasks each
(capacity), the leader the rest (so `--tasks` should exceed 24). Then, with the cluster only:
- kill -9 of worker w1 (its process group and its actor system) while its tasks provision: the time until
  the leader reports it lost, and from its restart until every task is running;
- kill -9 of the leader the same way: the time from its restart until every task is running.
Duplicate side effects and lost tasks come from the sim provider's effects logs. Medians of the runs.
Every process is on loopback (no network namespace): the two setups share the machine's cores, so the
cluster is not expected to be faster here, only to cost little. Prints a Markdown table; JSON to
bench/results/cluster.json. Nothing is asserted.
"""

import argparse
import time
from collections import Counter
from collections.abc import Callable

from bench.harness.clients import create_each
from bench.harness.report import median, report, table
from bench.harness.systems import Crucible, Run, Worker, sim_effects, wait_until

ENV = {"CRUCIBLE_SIM_STEP_MS": "300"}


def all_running(leader: Crucible, ids: list[str], timeout: float = 300.0) -> None:
    for task_id in ids:
        leader.server.wait_status(task_id, {"running"}, timeout=timeout)


def timed(*actions: Callable[[], object]) -> float:
    """Seconds the actions take, run one after the other."""
    began = time.monotonic()
    for action in actions:
        action()
    return time.monotonic() - began


def lost(worker: Worker) -> bool:
    """The leader reports the worker down (or does not list it)."""
    host = worker.host()
    return host is None or not host["up"]


def workload(leader: Crucible, count: int) -> tuple[list[str], dict[str, float]]:
    """`count` creates one after the other, then the wait until all are running."""
    began = time.monotonic()
    ids, took = create_each(leader, ["demo"] * count)
    created = time.monotonic()
    all_running(leader, ids)
    return ids, {
        "create p50 ms": median(took),
        "last create → all running s": time.monotonic() - created,
        "first create → all running s": time.monotonic() - began,
    }


def cluster(run: Run, count: int) -> dict[str, float]:
    leader = run.crucible(ENV)
    base = leader.data.parent
    workers = [Worker(leader.server, base / name, name, capacity=12) for name in ("w1", "w2")]
    w1 = workers[0]
    try:
        for worker in workers:
            worker.start()
        ids, figures = workload(leader, count)
        more, _ = create_each(leader, ["demo"] * 8)  # w1 and w2 are full: these land on the leader
        for task_id in ids[:8]:  # frees 4 places on each worker
            leader.server.post(f"/v1/tasks/{task_id}/kill")
        for task_id in ids[:8]:
            leader.server.wait_status(task_id, {"killed"})
        fresh, _ = create_each(leader, ["demo"] * 8)  # on the workers again, provisioning when the kill comes
        time.sleep(0.4)
        w1.kill9()
        figures["worker lost → reported s"] = timed(lambda: wait_until(lambda: lost(w1), timeout=60))
        figures["worker restart → all running s"] = timed(w1.start, lambda: all_running(leader, fresh + more))
        again, _ = create_each(leader, ["demo"] * 6)
        time.sleep(0.4)
        leader.kill9()  # and a restart on the same ports, the workers' way back to it
        figures["leader restart → all running s"] = timed(
            leader.server.start, lambda: all_running(leader, again)
        )
        effects = leader.effects() + sum((sim_effects(w.data) for w in workers), Counter[tuple[str, str]]())
        per_task = Counter(task for task, _ in effects)
        figures["duplicate side effects"] = sum(n - 1 for n in effects.values())
        figures["lost tasks"] = sum(1 for n in per_task.values() if n < 4)
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
    with Run("cluster") as run:
        for index in range(args.runs):
            alone = run.crucible(ENV)
            runs.append((workload(alone, args.tasks)[1], cluster(run, args.tasks)))
            alone.cleanup()
            print(f"run {index + 1}/{args.runs} done", flush=True)
    rows, results = [], {}
    for name in runs[0][1]:
        ours = median(r[1][name] for r in runs)
        peer = median(r[0][name] for r in runs) if name in runs[0][0] else None
        rows.append([name, ours, peer, f"{ours / peer:.2f}x" if peer else "—"])
        results[name] = {"cluster": ours, "alone": peer, "runs": [r[1][name] for r in runs]}
    setup = f"median of {args.runs}, {args.tasks} tasks, {ENV['CRUCIBLE_SIM_STEP_MS']} ms steps"
    body = table([f"figure ({setup})", "leader + 2 workers", "leader alone", "ratio"], rows)
    report(
        "cluster",
        "Multi-host: a leader and two workers against the leader alone",
        body,
        results,
        run.leftovers,
    )


if __name__ == "__main__":
    main()
