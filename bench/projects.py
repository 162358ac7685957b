"""Projects: what registered projects cost while quiet, against while busy, and what waking one costs.

    PYTHONPATH=. .venv/bin/python bench/projects.py [--projects 10,50] [--runs 3]

For each count N of projects, one real server (sim provider, 0 ms steps, pools of 4, quiet after 20 s),
median of `--runs` fresh servers:
1. Quiet: N projects registered, no task: no project has an actor. Processes and total PSS (the server
   and every actor).
2. Wake: one create in each quiet project, one after the other (each starts the project's actors):
   p50/p99 of the create's answer.
3. Busy: 8 concurrent creates in each, which fill its pool; then one more create in each, one after the
   other: p50/p99. With every task at rest and its actor back in its pool (4 ready actors each):
   processes and PSS: what every registered project would cost at rest if projects never went quiet,
   the side-by-side peer of 1.
4. Quiet again, `CRUCIBLE_POOL_IDLE_S` after the last create, every project's actors gone: processes and
   PSS.
5. Start-up with N projects: restart (clean stop), time to a healthy server.
Prints a Markdown table; JSON to bench/results/projects.json. Nothing is asserted.
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from bench.harness.clients import create_each
from bench.harness.report import median, percentile, report, table
from bench.harness.systems import Run, memory, wait_until

POOL_SIZE, POOL_IDLE_S, BURST = 4, 20, 8
ENV = {
    "CRUCIBLE_SIM_STEP_MS": "0",
    "CRUCIBLE_POOL_SIZE": str(POOL_SIZE),
    "CRUCIBLE_POOL_IDLE_S": str(POOL_IDLE_S),
    "CRUCIBLE_IDLE_TIMEOUT_S": "1",  # tasks at rest give their actor back to the pool soon
}


def one_run(run: Run, count: int) -> dict[str, float]:
    crucible = run.crucible(ENV)  # registers `demo`, the first of the projects
    projects = ["demo", *(f"p{i}" for i in range(1, count))]
    out: dict[str, float] = {}

    def measure_memory(state: str) -> None:
        pss = memory(crucible.processes())
        out[f"{state}: processes"], out[f"{state}: PSS MiB"] = pss["processes"], pss["PSS MiB"]

    for name in projects[1:]:
        assert crucible.server.register(crucible.repo, name=name).status == 201
    assert crucible.settled(0, POOL_SIZE)
    measure_memory("quiet")
    _, wake = create_each(crucible, projects)
    with ThreadPoolExecutor(BURST) as burst:
        for name in projects:
            list(burst.map(create_each, [crucible] * BURST, [[name]] * BURST))
    _, busy = create_each(crucible, projects)
    last = time.monotonic()
    for state, times in (("quiet", wake), ("busy", busy)):
        out[f"create on a {state} project: p50 ms"] = median(times)
        out[f"create on a {state} project: p99 ms"] = percentile(times, 99)
    wait_until(lambda: crucible.settled(count, POOL_SIZE), timeout=120)
    assert time.monotonic() - last < POOL_IDLE_S, "measured busy too late: raise POOL_IDLE_S"
    measure_memory("busy")
    wait_until(lambda: crucible.settled(0, POOL_SIZE), timeout=120)
    measure_memory("quiet again")
    crucible.server.stop()
    began = time.perf_counter()
    crucible.restart()
    out["start-up: healthy, s"] = time.perf_counter() - began
    crucible.cleanup()
    return out


def summary(results: dict[int, list[dict[str, float]]]) -> str:
    counts = sorted(results)
    rows = []
    for figure in results[counts[0]][0]:
        rows.append([figure, *(median(run[figure] for run in results[n]) for n in counts)])
    for n in counts:
        quiet, busy = (median(r[f"{s}: PSS MiB"] for r in results[n]) for s in ("quiet", "busy"))
        rows.append([f"PSS quiet ÷ busy, {n} projects", f"{quiet / busy:.2f}x", *[""] * (len(counts) - 1)])
    return table(["figure", *(f"{n} projects" for n in counts)], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default="10,50", help="counts of projects, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[dict[str, float]]] = {}
    with Run("projects") as run:
        for index in range(args.runs):
            for count in (int(c) for c in args.projects.split(",")):
                results.setdefault(count, []).append(one_run(run, count))
                print(f"run {index + 1}/{args.runs}, {count} projects: done", flush=True)
    title = f"Projects: quiet against busy (median of {args.runs} run(s))"
    report("projects", title, summary(results), {str(n): runs for n, runs in results.items()}, run.leftovers)


if __name__ == "__main__":
    main()
