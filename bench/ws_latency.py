"""Latency to the websocket frame at the client, with 1, 100 and 1,000 subscribers of one task (real
server, real websockets): of status events from the task actor's commit (sim provider), and of the
agent's messages from their arrival (local provider, sandbox-agent's mock agent).

    PYTHONPATH=. .venv/bin/python bench/ws_latency.py [--subscribers 1,100,1000] [--procs 2] [--tasks 3]
        [--prompts 20]

Subscribers are spread over `--procs` client processes (a thousand real clients would not share one
Python process). Each takes the time a frame's last byte arrives in its `data_received` and parses
the frames only after the run, so the figure is the server's delivery, not a client library's parsing.
- Status events: each carries `at`, the commit time (UTC, millisecond precision): latency = arrival -
  `at`, good to about a millisecond. Every event committed after all subscribers are connected counts;
  `--tasks` tasks per figure, steps of 3 s.
- Agent messages: once every subscriber is connected to a running task, `--prompts` follow-ups 100 ms
  apart, each echoed by the mock agent (a notification and a result). A probe reads the agent's ACP
  stream beside the task actor's own follower and times each message's arrival: latency = the frame's
  arrival - the message's (matched by its `acp_id`): the actor's read, its commit and the fan-out.
Prints a Markdown table; JSON to bench/results/ws_latency.json. Nothing is asserted.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from typing import Any

import aiohttp

from actors.providers import acp
from backend.hub import text_frame
from bench.harness.report import median, percentile, report, table
from bench.harness.systems import Crucible, Run

DONE = b"task.initialized"  # a sim task's last status event
LAST = "the last follow-up"  # in the last follow-up's session.prompt, and in its echo's two messages
Frame = tuple[float, str, float, int | None]  # arrival, kind, commit time, acp_id


class Subscriber(asyncio.Protocol):
    """A raw websocket client: the handshake, then (arrival time, bytes) of everything received, until
    `until` has been received `times` times."""

    def __init__(
        self,
        request: bytes,
        upgraded: asyncio.Future[None],
        done: asyncio.Future[None],
        until: bytes,
        times: int,
    ) -> None:
        self.request, self.upgraded, self.done = request, upgraded, done
        self.until, self.times = until, times
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
        tail = self.chunks[-1][1][1 - len(self.until) :] if self.chunks else b""
        self.chunks.append((arrived, data))
        self.times -= (tail + data).count(self.until)
        if self.times <= 0 and not self.done.done():
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


async def follow(
    port: int, task_id: str, since: int, count: int, until: bytes, times: int, up: Queue
) -> list[Frame]:
    """`count` subscribers of the task's events after `since`; says on `up` when all are upgraded.
    Each frame seen as (arrival, kind, commit time, acp_id)."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET /v1/tasks/{task_id}/events?since={since} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    subs = []
    for _ in range(count):
        upgraded, done = loop.create_future(), loop.create_future()
        _, proto = await loop.create_connection(
            lambda u=upgraded, d=done: Subscriber(request, u, d, until, times), "127.0.0.1", port
        )
        subs.append(proto)
    await asyncio.wait_for(asyncio.gather(*(s.upgraded for s in subs)), 120)
    up.put(time.time())
    await asyncio.wait_for(asyncio.gather(*(s.done for s in subs)), 180)
    seen = []
    for sub in subs:
        for arrived, payload in sub.frames():
            event = json.loads(payload)
            committed = datetime.fromisoformat(event["at"]).timestamp()
            seen.append((arrived, event["kind"], committed, event["data"].get("acp_id")))
    return seen


def client(
    port: int, task_id: str, since: int, count: int, until: bytes, times: int, up: Queue, out: Queue
) -> None:
    out.put(asyncio.run(follow(port, task_id, since, count, until, times, up)))


def subscribed(
    port: int, task_id: str, since: int, subscribers: int, procs: int, until: bytes, times: int
) -> Callable[[], list[Frame]]:
    """Client processes following the task, every socket upgraded; the call waits for what they saw.
    Frames committed before the last socket was upgraded may be replays: left out."""
    up: Queue = mp.Queue()
    out: Queue = mp.Queue()
    shares = [subscribers // procs + (i < subscribers % procs) for i in range(procs)]
    args = (port, task_id, since)
    workers = [mp.Process(target=client, args=(*args, n, until, times, up, out)) for n in shares if n]
    for w in workers:
        w.start()
    connected = max(up.get(timeout=180) for _ in workers)

    def seen() -> list[Frame]:
        frames = [frame for _ in workers for frame in out.get(timeout=300)]
        for w in workers:
            w.join()
        return [frame for frame in frames if frame[2] > connected]

    return seen


def status_latencies(crucible: Crucible, subscribers: int, procs: int, tasks: int) -> list[float]:
    """Commit → frame of a sim task's status events, from its create on."""
    latencies: list[float] = []
    for _ in range(tasks):
        task_id = crucible.server.create().body["id"]
        seen = subscribed(crucible.server.port, task_id, 1, subscribers, procs, DONE, 1)
        latencies += [(arrived - committed) * 1000 for arrived, _, committed, _ in seen()]
    return latencies


def agent_latencies(crucible: Crucible, subscribers: int, procs: int, prompts: int) -> list[float]:
    """An agent message's arrival (read beside the task actor) → its `session.update` frame."""
    task_id = crucible.server.create({"prompt": "ws latency"}).body["id"]
    crucible.server.wait_status(task_id, {"running"}, timeout=120)
    time.sleep(2)  # the provisioning's replay recorded
    history = crucible.server.history(task_id)
    heard = max((e["data"]["acp_id"] for e in history if e["kind"] == "session.update"), default=0)
    endpoint = crucible.server.task(task_id)["agent_endpoint"]
    since = history[-1]["seq"]
    seen = subscribed(crucible.server.port, task_id, since, subscribers, procs, LAST.encode(), 3)
    arrivals = asyncio.run(talk(crucible.url, task_id, endpoint, heard, prompts))
    return [(arrived - arrivals[acp_id]) * 1000 for arrived, _, _, acp_id in seen() if acp_id in arrivals]


async def talk(url: str, task_id: str, endpoint: str, heard: int, prompts: int) -> dict[int, float]:
    """`prompts` follow-ups 100 ms apart, while a probe reads the agent's stream after `heard`: when
    each of its messages arrived, by id."""
    chunks: list[tuple[float, bytes]] = []
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(heard)}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{endpoint}/v1/acp/{task_id}", headers=headers) as stream,
    ):
        reading = asyncio.ensure_future(_read(stream.content, chunks))
        for n in range(prompts):
            text = LAST if n == prompts - 1 else f"follow-up {n}"
            async with http.post(f"{url}/v1/tasks/{task_id}/messages", json={"text": text}) as answer:
                assert answer.status == 202, await answer.text()
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last echoes
        reading.cancel()
    arrivals, buffer = {}, b""
    for arrived, data in chunks:
        *complete, buffer = (buffer + data).replace(b"\r\n", b"\n").split(b"\n\n")
        for block in complete:
            event = acp.parse_event(block.decode())
            if event is not None:
                arrivals[event[0]] = arrived
    return arrivals


async def _read(content: aiohttp.StreamReader, chunks: list[tuple[float, bytes]]) -> None:
    while data := await content.readany():
        chunks.append((time.time(), data))


def floor_server(count: int, rounds: int, port: Queue) -> None:
    """The floor: no actor, no hub, no aiohttp: a plain asyncio server that answers each websocket
    handshake, then writes one ready-made frame (stamped as it is built) to every connection, as the
    hub does, `rounds` times 100 ms apart."""

    async def serve() -> None:
        writers: list[asyncio.StreamWriter] = []
        full = asyncio.Event()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            writers.append(writer)
            if len(writers) == count:
                full.set()
            await reader.read()  # until the client goes

        server = await asyncio.start_server(accept, "127.0.0.1", 0, backlog=4096)
        port.put(server.sockets[0].getsockname()[1])
        await full.wait()
        await asyncio.sleep(0.5)
        for n in range(rounds):
            text = LAST if n == rounds - 1 else str(n)
            event = {"kind": "floor", "at": datetime.now(UTC).isoformat(), "data": {"text": text}}
            wire = text_frame(json.dumps(event))
            for writer in writers:
                writer.write(wire)
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        server.close()

    asyncio.run(serve())


def floor_latencies(subscribers: int, procs: int, rounds: int) -> list[float]:
    """Build → frame at each subscriber, on the floor server."""
    port: Queue = mp.Queue()
    server = mp.Process(target=floor_server, args=(subscribers, rounds, port))
    server.start()
    seen = subscribed(port.get(timeout=30), "floor", 0, subscribers, procs, LAST.encode(), 1)
    latencies = [(arrived - committed) * 1000 for arrived, _, committed, _ in seen()]
    server.join()
    return latencies


def row(label: str, count: int, values: list[float]) -> list[Any]:
    return [label, count, len(values), median(values), percentile(values, 99), max(values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1,100,1000")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--tasks", type=int, default=3, help="sim tasks followed per subscriber count")
    parser.add_argument("--prompts", type=int, default=20, help="follow-ups per subscriber count")
    args = parser.parse_args()
    counts = [int(n) for n in args.subscribers.split(",")]
    rows = []
    with Run("ws") as run:
        sim = run.crucible({"CRUCIBLE_SIM_STEP_MS": "3000", "CRUCIBLE_WS_QUEUE_FRAMES": "10000"})
        for count in counts:
            values = status_latencies(sim, count, args.procs, args.tasks)
            rows.append(row("status event, commit → frame", count, values))
        sim.cleanup()
        local = run.crucible({"CRUCIBLE_WS_QUEUE_FRAMES": "10000"}, provider="local")
        for count in counts:
            values = agent_latencies(local, count, args.procs, args.prompts)
            rows.append(row("agent message, arrival → frame", count, values))
        local.cleanup()
        for count in counts:
            values = floor_latencies(count, args.procs, args.prompts)
            rows.append(row("floor (plain asyncio), write → frame", count, values))
    body = table(["frames of", "subscribers", "frames", "p50 ms", "p99 ms", "max ms"], rows)
    title = f"Websocket latency to the frame at the client ({args.procs} client processes)"
    report("ws_latency", title, body, {"client_processes": args.procs, "rows": rows}, run.leftovers)


if __name__ == "__main__":
    main()
