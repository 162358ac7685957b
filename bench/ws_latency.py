"""Latency from a task actor's commit to the websocket frame at the client, with 1, 100 and 1,000
subscribers of one task (sim provider, real server, real websockets).

    PYTHONPATH=. .venv/bin/python bench/ws_latency.py [--subscribers 1,100,1000] [--procs 2] [--tasks 3]

Subscribers are spread over `--procs` client processes (a thousand real clients would not share one
Python process). Each takes the time a frame's last byte arrives in its `data_received` and parses
the frames only after the run, so the figure is the server's delivery, not a client library's parsing.
Each event carries `at`, the commit time (UTC, millisecond precision): latency = arrival - `at`, good
to about a millisecond. Every event committed after all subscribers are connected counts; `--tasks` tasks
per figure, steps of 3 s. Prints a Markdown table; JSON to bench/results/ws_latency.json. Nothing is
asserted.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import struct
import time
from datetime import datetime

from bench.harness.report import median, percentile, report, table
from bench.harness.systems import Crucible, Run

DONE = b"task.initialized"


class Subscriber(asyncio.Protocol):
    """A raw websocket client: the handshake, then (arrival time, bytes) of everything received."""

    def __init__(self, request: bytes, upgraded: asyncio.Future[None], done: asyncio.Future[None]) -> None:
        self.request, self.upgraded, self.done = request, upgraded, done
        self.chunks: list[tuple[float, bytes]] = []
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        if self.head is not None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            data = self.head.split(b"\r\n\r\n", 1)[1]
            self.head = None  # type: ignore[assignment]
            self.upgraded.set_result(None)  # subscribed: the server subscribes as it answers 101
        tail = self.chunks[-1][1][-len(DONE) :] if self.chunks else b""
        self.chunks.append((arrived, data))
        if DONE in tail + data and not self.done.done():
            self.done.set_result(None)

    def frames(self) -> list[tuple[float, bytes]]:
        """(arrival of its last byte, payload) of each text frame."""
        out, buf, offset = [], b"", 0
        for arrived, data in self.chunks:
            buf += data
            while len(buf) - offset >= 2:
                opcode, size = buf[offset] & 0x0F, buf[offset + 1] & 0x7F
                start = offset + 2
                if size == 126:
                    (size,) = struct.unpack_from("!H", buf, start)
                    start += 2
                elif size == 127:
                    (size,) = struct.unpack_from("!Q", buf, start)
                    start += 8
                if len(buf) < start + size:
                    break
                if opcode == 1:
                    out.append((arrived, buf[start : start + size]))
                offset = start + size
        return out


async def follow(port: int, task_id: str, count: int) -> list[float]:
    loop = asyncio.get_running_loop()
    request = (
        f"GET /v1/tasks/{task_id}/events?since=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    subs = []
    for _ in range(count):
        upgraded, done = loop.create_future(), loop.create_future()
        _, proto = await loop.create_connection(
            lambda u=upgraded, d=done: Subscriber(request, u, d), "127.0.0.1", port
        )
        subs.append(proto)
    await asyncio.wait_for(asyncio.gather(*(s.upgraded for s in subs)), 120)
    connected = time.time()  # events committed before every socket was upgraded may be replays: not counted
    await asyncio.wait_for(asyncio.gather(*(s.done for s in subs)), 120)
    latencies = []
    for sub in subs:
        for arrived, payload in sub.frames():
            committed = datetime.fromisoformat(json.loads(payload)["at"]).timestamp()
            if committed > connected:
                latencies.append((arrived - committed) * 1000)
    return latencies


def client(port: int, task_id: str, count: int, out: "mp.Queue[list[float]]") -> None:
    out.put(asyncio.run(follow(port, task_id, count)))


def measure(crucible: Crucible, subscribers: int, procs: int, tasks: int) -> list[float]:
    latencies: list[float] = []
    for _ in range(tasks):
        task_id = crucible.server.create().body["id"]
        out: mp.Queue[list[float]] = mp.Queue()
        shares = [subscribers // procs + (i < subscribers % procs) for i in range(procs)]
        port = crucible.server.port
        workers = [mp.Process(target=client, args=(port, task_id, n, out)) for n in shares if n]
        for w in workers:
            w.start()
        for w in workers:
            latencies += out.get(timeout=180)
            w.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1,100,1000")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--tasks", type=int, default=3, help="tasks followed per subscriber count")
    args = parser.parse_args()
    rows = []
    with Run("ws") as run:
        crucible = run.crucible({"CRUCIBLE_SIM_STEP_MS": "3000", "CRUCIBLE_WS_QUEUE_FRAMES": "10000"})
        for count in (int(n) for n in args.subscribers.split(",")):
            values = measure(crucible, count, args.procs, args.tasks)
            rows.append([count, len(values), median(values), percentile(values, 99), max(values)])
    body = table(["subscribers", "frames", "p50 ms", "p99 ms", "max ms"], rows)
    title = f"Websocket latency, commit → frame ({args.procs} client processes)"
    report("ws_latency", title, body, {"client_processes": args.procs, "rows": rows}, run.leftovers)


if __name__ == "__main__":
    main()
