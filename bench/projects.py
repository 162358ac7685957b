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
   processes and PSS. This is what every registered project cost at rest before session 9, the
   side-by-side peer of 1.
4. Quiet again, `CRUCIBLE_POOL_IDLE_S` after the last create, every project's actors gone: processes and
   PSS.
5. Start-up with N projects: restart (clean stop), time to a healthy server.
Prints a Markdown table; JSON to bench/results/projects.json. Nothing is asserted.
"""

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.scale import percentile, settled, total_pss_mib
from tests.server import Server, make_repo, wait_until

POOL_SIZE, POOL_IDLE_S, BURST = 4, 20, 8
ENV = {
    "CRUCIBLE_SIM_STEP_MS": "0",
    "CRUCIBLE_POOL_SIZE": str(POOL_SIZE),
    "CRUCIBLE_POOL_IDLE_S": str(POOL_IDLE_S),
    "CRUCIBLE_IDLE_TIMEOUT_S": "1",  # tasks at rest give their actor back to the pool soon
}


def creates(server: Server, projects: list[str]) -> list[float]:
    times = []
    for name in projects:
        began = time.perf_counter()
        response = server.create(project=name)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status == 201, response.body
    return times


def one_run(base: Path, count: int) -> dict[str, float]:
    server = Server(base / "data", "sim", ENV)
    repo = make_repo(base / "repo")
    projects = [f"p{i}" for i in range(count)]
    out: dict[str, float] = {}

    def memory(state: str) -> None:
        pss, procs = total_pss_mib(server)
        out[f"{state}: processes"], out[f"{state}: PSS MiB"] = procs, pss

    try:
        server.start()
        for name in projects:
            assert server.register(repo, name=name).status == 201
        assert settled(server, 0, POOL_SIZE)
        memory("quiet")
        wake = creates(server, projects)
        with ThreadPoolExecutor(BURST) as burst:
            for name in projects:
                list(burst.map(creates, [server] * BURST, [[name]] * BURST))
        busy = creates(server, projects)
        last = time.monotonic()
        for state, times in (("quiet", wake), ("busy", busy)):
            out[f"create on a {state} project: p50 ms"] = statistics.median(times)
            out[f"create on a {state} project: p99 ms"] = percentile(times, 0.99)
        wait_until(lambda: settled(server, count, POOL_SIZE), timeout=120)
        assert time.monotonic() - last < POOL_IDLE_S, "measured busy too late: raise POOL_IDLE_S"
        memory("busy")
        wait_until(lambda: settled(server, 0, POOL_SIZE), timeout=120)
        memory("quiet again")
        server.stop()
        began = time.perf_counter()
        server.start()
        out["start-up: healthy, s"] = time.perf_counter() - began
        return out
    finally:
        server.cleanup()


def table(results: dict[int, list[dict[str, float]]]) -> str:
    counts = sorted(results)
    figures = list(results[counts[0]][0])
    lines = [
        "| figure | " + " | ".join(f"{n} projects" for n in counts) + " |",
        "|---|" + "---|" * len(counts),
    ]
    for figure in figures:
        cells = [statistics.median(run[figure] for run in results[n]) for n in counts]
        lines.append(
            f"| {figure} | " + " | ".join(f"{c:.0f}" if c >= 100 else f"{c:.3g}" for c in cells) + " |"
        )
    for n in counts:
        quiet, busy = (statistics.median(r[f"{s}: PSS MiB"] for r in results[n]) for s in ("quiet", "busy"))
        lines.append(f"| PSS quiet ÷ busy, {n} projects | {quiet / busy:.2f}x |" + " |" * (len(counts) - 1))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", default="10,50", help="counts of projects, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[dict[str, float]]] = {}
    for run in range(args.runs):
        for count in (int(c) for c in args.projects.split(",")):
            with tempfile.TemporaryDirectory(prefix="crucible-projects-") as base:
                results.setdefault(count, []).append(one_run(Path(base), count))
            print(f"run {run + 1}, {count} projects: {results[count][-1]}", flush=True)
    print(table(results))
    out = Path(__file__).parent / "results" / "projects.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({str(n): runs for n, runs in results.items()}, indent=2))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
