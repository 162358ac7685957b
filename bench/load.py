"""Load: 500 creates by 32 concurrent clients, one connection each (sim provider), on a real server.

    PYTHONPATH=. .venv/bin/python bench/load.py [--creates 500] [--connections 32] [--runs 3]

Reports create latency p50/p99/max, creates/s, errors (anything but 201), and the time until every
task is at rest. Median of `--runs` runs, each on a fresh server. Prints a Markdown table; JSON to
bench/results/load.json. Nothing is asserted.
"""

import argparse
import time

from bench.harness.clients import creates, wait_complete
from bench.harness.report import medians, report, table
from bench.harness.systems import Run


def once(run: Run, total: int, connections: int) -> dict[str, float]:
    crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": "50"})
    batch = creates(crucible, total, connections)
    began = time.monotonic()
    wait_complete(crucible, len(batch.ids))
    crucible.cleanup()
    figures = {k: batch.summary()[k] for k in ("p50 ms", "p99 ms", "max ms", "creates/s", "errors")}
    return figures | {"then all at rest s": time.monotonic() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with Run("load") as run:
        runs = [once(run, args.creates, args.connections) for _ in range(args.runs)]
    row = medians(runs)
    title = f"Load: {args.creates} creates over {args.connections} connections, median of {args.runs} run(s)"
    report(
        "load", title, table(list(row), [list(row.values())]), {"median": row, "runs": runs}, run.leftovers
    )


if __name__ == "__main__":
    main()
