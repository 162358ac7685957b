"""Crucible against a DBOS Transact peer (bench/dbos_peer.py), same workload, same machine, same run.

    .venv/bin/pip install -e '.[bench]'   # once: dbos, pinned in pyproject.toml, beside Crucible's deps
    PYTHONPATH=. .venv/bin/python bench/vs_dbos.py [--quick] [--keep] [--runs 3] [--peer-mode queue|start]
        [--peer-concurrency 32] [--recovery-step-ms 500] [--kill-after-s 0.5]

Prints a Markdown table; writes bench/results/vs_dbos.json (every run's figures, and whatever was measured
when a run fails). Full run: roughly 15-30 minutes on a 2-core machine; `--quick` (small counts, one run):
about 70 s. Nothing is asserted.

The workload: an HTTP POST durably creates a task and returns its id; four provisioning steps follow in the
background, each sleeping the step time and recording one side effect.
  - Crucible: a real server (bench/harness/systems.py `Crucible`: `python -m backend.cli serve` in its own
    process group, private ports and data dir), `sim` provider, CRUCIBLE_SIM_STEP_MS=<step>; a task is
    complete at status `running`. Side effects: `<data>/sim/effects.jsonl` (sandbox, agent, agent session;
    ensure-name records none).
  - Peer: bench/dbos_peer.py (aiohttp + DBOS, SQLite system database, queue concurrency 32, 0.1 s polling;
    its docstring says how it is tuned) in its own process group, private port and dir; a task is complete
    at workflow status SUCCESS. Side effects: rows (task_id, step) of its app database.
The two never run at once: each figure runs on Crucible, then on the peer (the order alternates per run),
each on a fresh server with an empty data dir; client and server share the machine's cores. Every process
started is ended (process groups, and the process session thespian daemonizes Crucible's actors into) and
the temp dir removed, on failure too (SIGTERM and Ctrl-C included); the output lists any process left over.

Figures (each run `--runs` times, 3 by default; the table gives the median):
  1. Create latency, POST → 201: 10 warm-up creates, then 200 creates by 1 client (sequential), then 640 by
     32 concurrent clients (one aiohttp client session, 32 connections); p50/p99 and creates/s at 32
     clients; every task completes between phases; 50 ms steps.
  2. Time until every task is complete: N creates by 32 clients, then the task list polled every 100 ms
     (Crucible: GET …/tasks?status=<busy>&limit=1, and when nothing is busy the `running` list, limit 1000;
     peer: GET /stats); timed from the first create. 250 x 0 ms steps, 250 x 50 ms, 1,000 x 50 ms.
  3. Recovery: 200 creates with 500 ms steps; 0.5 s after the last create is acknowledged, `kill -9` of
     the server's process group (Crucible: and of every actor process); restart on the same data dir; time
     to healthy and until all 200 are complete; tasks in flight at the kill; duplicate side effects ((task,
     step) recorded more than once); lost tasks (acknowledged creates never completed within the timeout).
     Read with care: the peer runs at most 32 workflows at once (its queue), so 200 x 2 s of steps need
     >= 12.5 s however fast it recovers, while Crucible runs every task at once but acknowledges creates
     more slowly, so fewer of its 200 are still in flight at the kill (the table says how many). Crucible's
     sim provider adopts an effect whose marker file exists, so a re-run step leaves no duplicate; the
     peer's plain INSERT shows each re-run whose insert had committed before DBOS's checkpoint of the step,
     so its count depends on where the kill lands: the peer's first 32 workflows start together and their
     steps end in lockstep, and 0.5 s after the last create is close to the end of their first step
     (`--kill-after-s` moves it).
  4. Memory: RSS and PSS summed over every process of each system (Crucible: web process and its children,
     every actor process) right after the 1,000 tasks of figure 2 complete, and again 12 s later (Crucible's
     task actors are still live: they passivate after 30 s at rest, its default).
"""

import argparse
import importlib.util
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from importlib.metadata import version

from bench.harness.clients import creates, latency, wait_complete
from bench.harness.report import compare, report
from bench.harness.systems import Crucible, Run, Script, System, memory

PEER = "DBOS peer"
IDLE_S = 12.0


@dataclass
class Plan:
    """Counts of one invocation; `--quick` shrinks them for a smoke test."""

    runs: int = 3
    warmup: int = 10
    sequential: int = 200
    concurrent: int = 640
    clients: int = 32
    latency_step_ms: int = 50
    to_complete: list[tuple[int, int]] = field(default_factory=lambda: [(250, 0), (250, 50), (1000, 50)])
    recovery_tasks: int = 200
    recovery_step_ms: int = 500
    kill_after_s: float = 0.5
    timeout_s: float = 600.0


QUICK = Plan(
    runs=1,
    warmup=5,
    sequential=10,
    concurrent=32,
    to_complete=[(20, 0), (20, 50), (50, 50)],
    recovery_tasks=20,
)


def figure_latency(system: System, plan: Plan) -> dict[str, float]:
    return latency(system, plan.warmup, plan.sequential, plan.concurrent, plan.clients, plan.timeout_s)


def figure_complete(
    system: System, plan: Plan, n: int, step_ms: int, measure_memory: bool
) -> dict[str, float]:
    key = f"{n} tasks x {step_ms} ms"
    began = time.perf_counter()
    batch = creates(system, n, plan.clients)
    created = time.perf_counter() - began
    seen = wait_complete(system, len(batch.ids), plan.timeout_s)
    took = time.perf_counter() - began
    figures = {
        f"{key}: all complete s": took if seen.done == len(batch.ids) else float("nan"),
        f"{key}: creates acknowledged s": created,
        f"{key}: create errors": batch.errors.total(),
        f"{key}: not complete": len(batch.ids) - (seen.done or 0),
    }
    if measure_memory:
        figures |= memory(system.processes(), f"{n} tasks just complete")
        time.sleep(IDLE_S)
        figures |= memory(system.processes(), f"{IDLE_S:.0f} s later")
    return figures


def figure_recovery(system: System, plan: Plan) -> dict[str, float]:
    batch = creates(system, plan.recovery_tasks, plan.clients)
    time.sleep(plan.kill_after_s)
    in_flight = len(batch.ids) - len(system.completed())
    system.kill9()
    began = time.perf_counter()
    system.restart()
    healthy = time.perf_counter() - began
    seen = wait_complete(system, len(batch.ids), plan.timeout_s)
    took = time.perf_counter() - began
    done = system.completed()
    return {
        "recovery: restart → healthy s": healthy,
        "recovery: restart → all complete s": took if seen.done == len(batch.ids) else float("nan"),
        "recovery: tasks in flight at the kill": in_flight,
        "recovery: duplicate side effects": sum(1 for n in system.effects().values() if n > 1),
        "recovery: lost tasks": len(set(batch.ids) - done),
        "recovery: create errors": batch.errors.total(),
    }


def each(run: Run, index: int, step_ms: int, peer: list[str], figure: partial[dict[str, float]]) -> None:
    """`figure` on a fresh Crucible and a fresh peer, one after the other (the order alternating per run),
    each ended and its data dir removed before the next starts."""
    labels = [Crucible.label, PEER]
    for label in labels if index % 2 == 0 else labels[::-1]:
        data = run.dir(label) / "data"
        system: System = (
            Crucible(data, {"CRUCIBLE_SIM_STEP_MS": str(step_ms)})
            if label == Crucible.label
            else Script(PEER, "dbos_peer.py", data, ["--step-ms", str(step_ms), *peer])
        )
        run.measure(system, figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts and one run: a smoke test")
    parser.add_argument("--runs", type=int, help="runs of every figure (3; --quick: 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dirs and server logs")
    parser.add_argument("--peer-mode", choices=("queue", "start"), default="queue", help="see dbos_peer.py")
    parser.add_argument("--peer-concurrency", type=int, default=32, help="the peer's queue concurrency")
    parser.add_argument("--recovery-step-ms", type=int, default=500, help="step time of figure 3")
    parser.add_argument("--kill-after-s", type=float, default=0.5, help="figure 3: last create → kill -9")
    args = parser.parse_args()
    if importlib.util.find_spec("dbos") is None:
        parser.exit(1, "dbos is not installed in this interpreter: .venv/bin/pip install -e '.[bench]'\n")
    plan = QUICK if args.quick else Plan()
    plan = replace(plan, recovery_step_ms=args.recovery_step_ms, kill_after_s=args.kill_after_s)
    plan = replace(plan, runs=args.runs or plan.runs)
    peer = ["--mode", args.peer_mode, "--concurrency", str(args.peer_concurrency)]
    results = {"plan": asdict(plan), "dbos": version("dbos"), "peer options": peer}
    run = Run("vs-dbos", args.keep)
    try:
        with run:
            for index in range(plan.runs):
                print(f"run {index + 1}/{plan.runs}", flush=True)
                each(run, index, plan.latency_step_ms, peer, partial(figure_latency, plan=plan))
                for n, step_ms in plan.to_complete:
                    biggest = (n, step_ms) == max(plan.to_complete)  # memory is measured after the biggest
                    figure = partial(figure_complete, plan=plan, n=n, step_ms=step_ms, measure_memory=biggest)
                    each(run, index, step_ms, peer, figure)
                each(run, index, plan.recovery_step_ms, peer, partial(figure_recovery, plan=plan))
    except BaseException as exc:
        results["failed"] = repr(exc)
        raise
    finally:  # whatever was measured, a failed run's too
        notes = [
            f"Peer: dbos {results['dbos']}, {' '.join(peer)}, SQLite system database.",
            "Counts (errors, duplicates, lost, in flight) show the median and the worst run. Ratios below 1",
            "favour Crucible for times and memory, above 1 for creates/s. RSS counts pages shared by",
            "Crucible's forked processes once per process; PSS shares them out.",
        ]
        table = compare(run.figures, [Crucible.label, PEER], [(Crucible.label, PEER)])
        title = f"Crucible vs DBOS Transact{' (--quick)' if args.quick else ''}"
        report(
            "vs_dbos",
            title,
            table + "\n\n" + "\n".join(notes),
            results | {"figures": run.figures},
            run.leftovers,
        )


if __name__ == "__main__":
    main()
