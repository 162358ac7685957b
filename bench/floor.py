"""Crucible's create against the floor of its own shape and against the DBOS peer, in one run.

    PYTHONPATH=. .venv/bin/python bench/floor.py [--runs 3] [--quick]

vs_dbos.py's create latency figure (1 client sequential, then 32 concurrent clients; creates/s), measured
on five servers, one at a time, each fresh, the order rotating per run:
  - floor, 1 hop: bench/floor_server.py --hops 1: the bridge → a ready actor → its task database (Crucible's
    code for each part), answered. No projection, no reservation, no fork, no provisioning.
  - floor, 2 hops: the same, then the projection's upsert in a second actor before the answer (a task is
    listed as soon as its create has answered).
  - floor, no actor: --hops 0: the web process writes both (task database, projection row) on a thread, no
    actor on the create path: outside the shape (a task actor is its database's only writer).
  - Crucible: the real server (sim provider, 50 ms steps: provisioning runs meanwhile, as in vs_dbos.py).
  - DBOS peer: bench/dbos_peer.py, as in vs_dbos.py.
Also the CPU time of every process of each system (server, actors) per task, created through to complete.
Needs the bench extra (`pip install -e '.[bench]'`). Prints a Markdown table (median of the runs) and writes
bench/results/floor.json. Nothing is asserted.
"""

import argparse

from bench.harness.clients import latency
from bench.harness.report import compare, report
from bench.harness.systems import Crucible, Run, Script, System, cpu_seconds, free_port

FLOORS = {0: "floor, no actor", 1: "floor, 1 hop", 2: "floor, 2 hops"}
PEER = "DBOS peer"
LABELS = [*FLOORS.values(), Crucible.label, PEER]
STEP_MS = 50
CLIENTS = 32


def fresh(run: Run, label: str) -> System:
    """A system not yet started, in a dir of its own. A floor is complete at once (nothing provisions)."""
    data = run.dir(label) / "data"
    if label == Crucible.label:
        return Crucible(data, {"CRUCIBLE_SIM_STEP_MS": str(STEP_MS)})
    if label == PEER:
        return Script(PEER, "dbos_peer.py", data, ["--step-ms", str(STEP_MS), "--concurrency", str(CLIENTS)])
    hops = next(hops for hops, name in FLOORS.items() if name == label)
    return Script(label, "floor_server.py", data, ["--actor-port", str(free_port()), "--hops", str(hops)])


def measure(system: System, counts: tuple[int, int, int]) -> dict[str, float]:
    """The latency figure, and the CPU time of every process of the system meanwhile (each task through to
    complete), per task. A process that exits before the end takes its CPU time with it."""
    before = cpu_seconds(system.processes())
    figures = latency(system, *counts, clients=CLIENTS)
    spent = sum(t - before.get(pid, 0.0) for pid, t in cpu_seconds(system.processes()).items())
    return figures | {"CPU ms per task, all processes": spent * 1000 / sum(counts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="vs_dbos.py's small counts: a smoke test")
    args = parser.parse_args()
    counts = (5, 10, 32) if args.quick else (10, 200, 640)  # warm-up, sequential, concurrent creates
    run = Run("floor")
    try:
        with run:
            for index in range(args.runs):
                for label in LABELS[index % len(LABELS) :] + LABELS[: index % len(LABELS)]:
                    print(f"run {index + 1}/{args.runs}: {label}", flush=True)
                    run.measure(fresh(run, label), lambda system: measure(system, counts))
    finally:
        floor = FLOORS[2]
        table = compare(run.figures, LABELS, [(floor, PEER), (Crucible.label, floor)])
        results = {
            "runs": args.runs,
            "creates (warm-up, 1 client, 32 clients)": counts,
            "figures": run.figures,
        }
        title = "Crucible's create against the floor of its shape and the DBOS peer"
        report("floor", title, table, results, run.leftovers)


if __name__ == "__main__":
    main()
