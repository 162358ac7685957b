"""Resume after kill -9: how long until a restarted server is healthy, and until every task it was
provisioning is `running` again.

    PYTHONPATH=. .venv/bin/python bench/resume.py [--rounds 3] [--providers local,sim]

Per provider (local, sim with 50 ms steps), `--rounds` rounds, each on a fresh server: 5 creates, kill -9
of the server's process group and every actor process 50 ms later, restart on the same data directory.
Prints a Markdown table (one row per round); JSON to bench/results/resume.json. Nothing is asserted.
"""

import argparse
import time

from bench.harness.report import report, table
from bench.harness.systems import Run

ENVS = {"local": {}, "sim": {"CRUCIBLE_SIM_STEP_MS": "50"}}


def round_trip(run: Run, provider: str) -> tuple[float, float]:
    crucible = run.crucible(ENVS[provider], provider)
    ids = [crucible.server.create({"prompt": f"task {i}"}).body["id"] for i in range(5)]
    time.sleep(0.05)
    crucible.kill9()
    began = time.monotonic()
    crucible.restart()
    ready = time.monotonic() - began
    for task_id in ids:
        crucible.server.wait_status(task_id, {"running"}, timeout=120)
    crucible.cleanup()
    return ready, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--providers", default="local,sim", help="comma-separated: local, sim")
    args = parser.parse_args()
    rows = []
    with Run("resume") as run:
        for provider in args.providers.split(","):
            rows += [[provider, *round_trip(run, provider)] for _ in range(args.rounds)]
    body = table(["provider", "healthy after s", "all 5 running after s"], rows)
    report("resume", "Resume after kill -9", body, rows, run.leftovers)


if __name__ == "__main__":
    main()
