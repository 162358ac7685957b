"""Chaos: tasks created under fire while the whole server is `kill -9`ed every 1-5 s for a minute.

    PYTHONPATH=. .venv/bin/python bench/chaos.py [--tasks 500] [--seconds 60] [--step-ms 200]

A client keeps creating tasks (sim provider) while the server's process group and every actor process
are killed at random intervals and restarted at once. Then the server runs undisturbed until every task
is at rest, and the invariants of docs/guarantees.md are checked on every acknowledged task: it exists
and is `running`; one result event per step; `seq` contiguous; the projection agrees with the task
database; each simulated side effect happened once (`<data>/sim/effects.jsonl`); no process left.
Prints a Markdown table; JSON to bench/results/chaos.json. Nothing is asserted.
"""

import argparse
import random
import threading
import time
from collections import Counter

from bench.harness.report import report, table
from bench.harness.systems import RESULT_KINDS, Crucible, Run


def create_loop(crucible: Crucible, total: int, stop: threading.Event, acked: list[str]) -> None:
    """Creates until `total` were acknowledged; a create refused or cut by a kill is simply retried (on
    whichever server is current: a restart changes the ports)."""
    while len(acked) < total and not stop.is_set():
        try:
            response = crucible.server.create({"prompt": f"chaos {len(acked)}"}, timeout=5)
        except OSError:
            time.sleep(0.05)
            continue
        if response.status == 201:
            acked.append(response.body["id"])


def broken(crucible: Crucible, task_id: str, listed: dict[str, dict[str, object]]) -> list[str]:
    """The invariants a task breaks: one result event per step, `seq` contiguous, and the projection's
    `seq` the task database's."""
    record, history = crucible.server.task(task_id), crucible.server.history(task_id)
    kinds = Counter(e["kind"] for e in history)
    checks = {
        "a result event missing or repeated": all(kinds[k] == 1 for k in RESULT_KINDS),
        "seq not contiguous": [e["seq"] for e in history] == list(range(1, len(history) + 1)),
        "projection's seq not the task's": listed.get(task_id, {}).get("seq") == record["seq"],
    }
    return [name for name, ok in checks.items() if not ok]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--step-ms", type=int, default=200)
    args = parser.parse_args()
    acked: list[str] = []
    kills = 0
    with Run("chaos") as run:
        crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": str(args.step_ms)})
        stop = threading.Event()
        creator = threading.Thread(target=create_loop, args=(crucible, args.tasks, stop, acked))
        creator.start()
        try:
            ends = time.monotonic() + args.seconds
            while time.monotonic() < ends:
                time.sleep(random.uniform(1, 5))
                crucible.kill9()
                kills += 1
                crucible.restart()
            creator.join(600)
        finally:
            stop.set()
            creator.join()
        began = time.monotonic()
        for task_id in acked:
            crucible.server.wait_status(task_id, {"running"}, timeout=600)
        settle_s = time.monotonic() - began
        listed = {t["id"]: t for t in crucible.tasks()}
        effects = crucible.effects()
        broke = {t: found for t in acked if (found := broken(crucible, t, listed))}
        results = {
            "kills": kills,
            "acknowledged tasks": len(acked),
            "all running after the last restart (s)": round(settle_s, 1),
            "tasks breaking an invariant": len(broke),
            **{f"of which: {name}": n for name, n in Counter(x for t in broke.values() for x in t).items()},
            "duplicate side effects": sum(n - 1 for n in effects.values() if n > 1),
            "lost tasks": sum(1 for t in acked if crucible.server.get(f"/v1/tasks/{t}").status != 200),
        }
    body = table(["figure", "value"], results.items())
    report("chaos", f"Chaos: kill -9 every 1-5 s for {args.seconds:g} s", body, results, run.leftovers)


if __name__ == "__main__":
    main()
