"""Load: 500 creates by 32 concurrent clients, one connection each (sim provider), on a real server.

    PYTHONPATH=. .venv/bin/python bench/load.py [--creates 500] [--connections 32]

Reports create latency p50/p99/max, creates/s, errors (anything but 201), and the time until every
task is at rest. Median of `--runs` runs, each on a fresh server. Nothing is asserted.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.server import Server, make_repo


async def burst(port: int, creates: int, connections: int) -> tuple[list[float], int, float, list[str]]:
    """`connections` clients, each creating as soon as its previous create answered, until `creates`
    were sent; a create's latency is from its request to its answer (no client-side queueing)."""
    url = f"http://127.0.0.1:{port}/v1/workspaces/default/projects/demo/tasks"
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    todo = iter(range(creates))
    began = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def client() -> None:
            nonlocal errors
            for i in todo:
                start = time.perf_counter()
                async with session.post(url, json={"prompt": f"load {i}"}) as resp:
                    body = await resp.json()
                latencies.append((time.perf_counter() - start) * 1000)
                if resp.status == 201:
                    ids.append(body["id"])
                else:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(connections)))
    return latencies, errors, time.monotonic() - began, ids


def run(creates: int, connections: int) -> dict[str, float]:
    base = Path(tempfile.mkdtemp(prefix="crucible-load-"))
    server = Server(base / "data", "sim", {"CRUCIBLE_SIM_STEP_MS": "50"})
    try:
        server.start()
        server.register(make_repo(base / "repo"))
        latencies, errors, wall, ids = asyncio.run(burst(server.port, creates, connections))
        began = time.monotonic()
        for task_id in ids:
            server.wait_status(task_id, {"running", "error"}, timeout=600)
        ordered = sorted(latencies)
        return {
            "p50 ms": statistics.median(ordered),
            "p99 ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "max ms": ordered[-1],
            "creates/s": creates / wall,
            "errors": errors,
            "then all at rest s": time.monotonic() - began,
        }
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [run(args.creates, args.connections) for _ in range(args.runs)]
    row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{args.creates} creates over {args.connections} connections, median of {args.runs} runs")
    print("| " + " | ".join(row) + " |\n|" + "---|" * len(row))
    print("| " + " | ".join(f"{v:.1f}" for v in row.values()) + " |")
    out = Path(__file__).parent / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"median": row, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
