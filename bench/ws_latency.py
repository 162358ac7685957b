"""Latency from a task actor's commit to the websocket frame at the client, with 1, 100 and 1,000
subscribers of one task (sim provider, real server, real websockets, one client process).

    PYTHONPATH=. .venv/bin/python bench/ws_latency.py [--subscribers 1,100,1000]

Each event carries `at`, the commit time (UTC, millisecond precision); latency = arrival - `at`, so
figures are good to about a millisecond. Subscribers connect to a task whose steps take 1.5 s;
every event committed after all of them are connected counts. Three tasks per figure; JSON to bench/results/.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from tests.server import Server, make_repo


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(server: Server, subscribers: int, tasks: int = 3) -> list[float]:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(tasks):
            task_id = server.create().body["id"]
            url = f"ws://127.0.0.1:{server.port}/v1/tasks/{task_id}/events?since=1"
            sockets = await asyncio.gather(*(session.ws_connect(url) for _ in range(subscribers)))
            connected = time.time()  # events committed before this were replayed, not pushed: not counted

            async def follow(ws: aiohttp.ClientWebSocketResponse, connected: float = connected) -> None:
                async for msg in ws:
                    arrived = time.time()
                    event = json.loads(msg.data)
                    committed = datetime.fromisoformat(event["at"]).timestamp()
                    if committed > connected:
                        latencies.append((arrived - committed) * 1000)
                    if event["kind"] == "task.initialized":
                        break
                await ws.close()

            await asyncio.wait_for(asyncio.gather(*(follow(ws) for ws in sockets)), 120)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", default="1,100,1000")
    counts = [int(n) for n in parser.parse_args().subscribers.split(",")]
    base = Path(tempfile.mkdtemp(prefix="crucible-ws-"))
    server = Server(
        base / "data", "sim", {"CRUCIBLE_SIM_STEP_MS": "1500", "CRUCIBLE_WS_QUEUE_FRAMES": "10000"}
    )
    rows = []
    try:
        server.start()
        server.register(make_repo(base / "repo"))
        for count in counts:
            values = asyncio.run(measure(server, count))
            rows.append(
                {
                    "subscribers": count,
                    "frames": len(values),
                    "p50 ms": statistics.median(values),
                    "p99 ms": percentile(values, 0.99),
                    "max ms": max(values),
                }
            )
    finally:
        server.cleanup()
    print("| subscribers | frames | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["subscribers"],
            r["frames"],
            f"{r['p50 ms']:.1f}",
            f"{r['p99 ms']:.1f}",
            f"{r['max ms']:.1f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    out = Path(__file__).parent / "results" / "ws_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
