"""Actor cost: what workspaces, projects and tasks cost now that runner processes host the actors.

    PYTHONPATH=. .venv/bin/python bench/actor_cost.py [--runs 3] [--quick]

Each figure on a fresh real server (sim provider, runners as the machine gives: one per core), median of
`--runs` runs; `--quick`: small sizes (in brackets), one run: a smoke test.
1. 200 workspaces [20] (CRUCIBLE_MAX_WORKSPACES=250, CRUCIBLE_IDLE_TIMEOUT_S=3): processes and total PSS
   (the web process, its children and every actor process) of a fresh server once `default` sleeps;
   then 200 POST /v1/workspaces one after the other: right after (awake), and once all are asleep; what
   the workspaces added.
2. 50 projects x 8 tasks [5 x 4] (50 ms steps): 50 projects registered (`demo` among them), then in each
   project in turn 8 concurrent creates; seconds from the first create until all 400 are `running`, then
   processes and PSS of the whole server.
3. 2,000 tasks [200], 3 s steps, every other setting at its default: created by 32 concurrent clients;
   creates/s, create errors, seconds from the first create to the last one answered and to all `running`.
4. Create on a quiet project against a busy one (0 ms steps): 20 [5] projects
   registered, one create in each never-used project one after the other (quiet: the create starts the
   project's actors), then 8 more in the project just used, one after the other (busy): p50 of each and
   quiet ÷ busy (of the medians).
A figure that timed out waiting for `running` is NaN, left out of the median. Prints a Markdown table; JSON
to bench/results/actor_cost.json. Nothing is asserted.
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from bench.harness.clients import create_each, creates
from bench.harness.report import NaN, median, medians, report, table
from bench.harness.systems import BUSY, TASKS, Crucible, Run, memory, wait_until
from tests.helpers.metrics import scrape, total

BURST, CLIENTS, TIMEOUT_S = 8, 32, 900.0
IDLE_S = 3  # the workspaces' idle timeout: they sleep this long after their create
QUIET_MS, BUSY_MS = "create on a quiet project: p50 ms", "create on a busy project: p50 ms"


@dataclass
class Sizes:
    workspaces: int = 200
    projects: int = 50
    tasks_each: int = 8
    tasks: int = 2_000
    quiet: int = 20


QUICK = Sizes(workspaces=20, projects=5, tasks_each=4, tasks=200, quiet=5)


def until_running(crucible: Crucible, total: int, began: float) -> float:
    """Seconds from `began` until nothing is busy and `total` tasks of the workspace are `running` (one cheap
    query while anything is busy, the full count only once nothing is); NaN after TIMEOUT_S."""
    while time.perf_counter() - began < TIMEOUT_S:
        idle = not crucible.get(f"{TASKS}?status={BUSY}&limit=1")["tasks"]
        if idle and len(crucible.tasks("status=running")) >= total:
            return time.perf_counter() - began
        time.sleep(0.1)
    return NaN


def register(crucible: Crucible, count: int, prefix: str) -> list[str]:
    names = [f"{prefix}{i}" for i in range(1, count + 1)]
    for name in names:
        response = crucible.server.register(crucible.repo, name=name)
        assert response.status == 201, response.body
    return names


def workspaces(run: Run, count: int) -> dict[str, float]:
    env = {"CRUCIBLE_MAX_WORKSPACES": "250", "CRUCIBLE_IDLE_TIMEOUT_S": str(IDLE_S)}
    crucible = run.crucible(env)
    wait_until(lambda: asleep(crucible) == 1, timeout=60)  # `default`
    before = memory(crucible.processes())
    for i in range(count):
        response = crucible.server.post("/v1/workspaces", {"name": f"w{i}"})
        assert response.status == 201, response.body
    awake = memory(crucible.processes())
    wait_until(lambda: asleep(crucible) == count + 1, timeout=60)
    after = memory(crucible.processes())
    crucible.cleanup()
    label = f"{count} workspaces"
    return {
        f"{label}: processes before": before["processes"],
        f"{label}: PSS MiB before": before["PSS MiB"],
        f"{label}: PSS MiB just created (awake)": awake["PSS MiB"],
        f"{label}: processes once asleep": after["processes"],
        f"{label}: PSS MiB once asleep": after["PSS MiB"],
        f"{label}: processes added": after["processes"] - before["processes"],
        f"{label}: MiB added, awake": awake["PSS MiB"] - before["PSS MiB"],
        f"{label}: MiB added, asleep": after["PSS MiB"] - before["PSS MiB"],
    }


def asleep(crucible: Crucible) -> float:
    return total(scrape(crucible.server), "crucible_runner_sleeping")


def projects(run: Run, count: int, each: int) -> dict[str, float]:
    crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": "50"})
    names = ["demo", *register(crucible, count - 1, "p")]
    began = time.perf_counter()
    with ThreadPoolExecutor(each) as burst:
        for name in names:
            list(burst.map(create_each, [crucible] * each, [[name]] * each))
    seconds = until_running(crucible, count * each, began)
    pss = memory(crucible.processes())
    crucible.cleanup()
    label = f"{count} projects x {each} tasks"
    return {
        f"{label}: first create to all running s": seconds,
        f"{label}: processes": pss["processes"],
        f"{label}: PSS MiB": pss["PSS MiB"],
    }


def tasks(run: Run, total: int) -> dict[str, float]:
    crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": "3000"})
    began = time.perf_counter()
    batch = creates(crucible, total, CLIENTS)
    seconds = until_running(crucible, len(batch.ids), began)
    crucible.cleanup()
    label = f"{total:,} tasks, 3 s steps, default settings"
    return {
        f"{label}: creates/s ({CLIENTS} clients)": batch.summary()["creates/s"],
        f"{label}: create errors": batch.errors.total(),
        f"{label}: first create to last answered s": batch.wall_s,
        f"{label}: first create to all running s": seconds,
    }


def quiet_busy(run: Run, count: int) -> dict[str, float]:
    crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": "0"})
    names = register(crucible, count, "q")
    _, quiet = create_each(crucible, names)
    _, busy = create_each(crucible, [names[-1]] * BURST)
    crucible.cleanup()
    return {QUIET_MS: median(quiet), BUSY_MS: median(busy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes and one run: a smoke test")
    args = parser.parse_args()
    sizes, runs = (QUICK, 1) if args.quick else (Sizes(), args.runs)
    results: list[dict[str, float]] = []
    with Run("actor_cost") as run:
        for index in range(runs):
            out = workspaces(run, sizes.workspaces)
            print(f"run {index + 1}/{runs}: workspaces done", flush=True)
            out |= projects(run, sizes.projects, sizes.tasks_each)
            print(f"run {index + 1}/{runs}: projects done", flush=True)
            out |= tasks(run, sizes.tasks)
            print(f"run {index + 1}/{runs}: tasks done", flush=True)
            out |= quiet_busy(run, sizes.quiet)
            print(f"run {index + 1}/{runs}: quiet against busy done", flush=True)
            results.append(out)
    row = medians(results)
    rows: list[list[object]] = [[figure, value] for figure, value in row.items()]
    rows.append(["create: quiet ÷ busy (p50s)", f"{row[QUIET_MS] / row[BUSY_MS]:.2f}x"])
    title = f"Actors: the cost of workspaces, projects and tasks{' (--quick)' if args.quick else ''}"
    title += f", median of {runs} run(s)"
    body = table(["figure", "value"], rows)
    report("actor_cost", title, body, {"sizes": asdict(sizes), "median": row, "runs": results}, run.leftovers)


if __name__ == "__main__":
    main()
