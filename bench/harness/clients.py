"""HTTP clients of a system under test: batches of creates by any number of concurrent clients, each create
timed on its own, and the wait until every task is complete."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.harness.report import NaN, percentile
from bench.harness.systems import Crucible, Progress, Refused, System


@dataclass
class Creates:
    """A batch of creates: ids acknowledged, latency of each attempt (ms), failures, wall time."""

    ids: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.ms),
            "p50 ms": percentile(self.ms, 50),
            "p99 ms": percentile(self.ms, 99),
            "max ms": max(self.ms, default=NaN),
            "mean ms": statistics.fmean(self.ms) if self.ms else NaN,
            "creates/s": len(self.ids) / self.wall_s if self.wall_s else NaN,
            "errors": self.errors.total(),
        }


def session(system: System, clients: int) -> aiohttp.ClientSession:
    """Keep-alive connections to the system, at most `clients` of them."""
    connector = aiohttp.TCPConnector(limit=clients)
    return aiohttp.ClientSession(system.url, connector=connector, timeout=aiohttp.ClientTimeout(total=120))


async def create_many(system: System, http: aiohttp.ClientSession, total: int, clients: int) -> Creates:
    """`clients` coroutines share `total` creates, each sending its next as soon as its last was answered;
    each create's latency is timed on its own, from request to answer (no client-side queueing)."""
    out, left = Creates(), iter(range(total))

    async def client() -> None:
        for _ in left:
            began = time.perf_counter()
            try:
                out.ids.append(await system.create(http))
            except (aiohttp.ClientError, TimeoutError, Refused) as exc:
                out.errors[f"{type(exc).__name__}: {exc}"] += 1
                print(f"  {system.label} create failed: {exc}", file=sys.stderr, flush=True)
            out.ms.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    out.wall_s = time.perf_counter() - began
    return out


def creates(system: System, total: int, clients: int) -> Creates:
    """create_many on a session of its own."""

    async def go() -> Creates:
        async with session(system, clients) as http:
            return await create_many(system, http, total, clients)

    return asyncio.run(go())


def wait_complete(system: System, expected: int, timeout: float = 600.0, poll_s: float = 0.1) -> Progress:
    """Poll until nothing is busy and `expected` tasks are complete or failed, or time runs out: the last
    progress seen (done None: timed out while busy)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = system.progress()
        if (
            seen.done is not None and seen.done + (seen.failed or 0) >= expected
        ) or time.monotonic() > deadline:
            return seen
        time.sleep(poll_s)


def phases(
    system: System, plan: Sequence[tuple[str, int, int]], timeout: float = 600.0
) -> dict[str, Creates]:
    """Batches of creates in order, (name, creates, clients), over one keep-alive session; every task
    completes (or fails) before the next batch begins."""

    async def go() -> dict[str, Creates]:
        out, total = {}, 0
        async with session(system, max(clients for _, _, clients in plan)) as http:
            for name, count, clients in plan:
                out[name] = await create_many(system, http, count, clients)
                total += len(out[name].ids)
                await asyncio.to_thread(wait_complete, system, total, timeout)
        return out

    return asyncio.run(go())


def latency(
    system: System, warmup: int, sequential: int, concurrent: int, clients: int, timeout: float = 600.0
) -> dict[str, float]:
    """Create latency, POST → answer: `warmup` creates, then `sequential` by 1 client, then `concurrent` by
    `clients` at once (phases above); p50/p99 and errors of each, creates/s of the concurrent one."""
    plan = [("warm-up", warmup, 1), ("1", sequential, 1), (str(clients), concurrent, clients)]
    batches = phases(system, plan, timeout)
    figures: dict[str, float] = {}
    for name in ("1", str(clients)):
        summary = batches[name].summary()
        figures[f"create p50 ms, {name} client(s)"] = summary["p50 ms"]
        figures[f"create p99 ms, {name} client(s)"] = summary["p99 ms"]
        figures[f"create errors, {name} client(s)"] = summary["errors"]
    figures[f"creates/s, {clients} clients"] = batches[str(clients)].summary()["creates/s"]
    return figures


def create_each(crucible: Crucible, projects: Sequence[str]) -> tuple[list[str], list[float]]:
    """One create after the other, one in each project named (a name may repeat), each timed from request
    to answer (ms): the ids and the times. Synchronous: safe from any thread."""
    ids, ms = [], []
    for project in projects:
        began = time.perf_counter()
        response = crucible.server.create({"prompt": "Benchmark task\nnothing to do"}, project=project)
        ms.append((time.perf_counter() - began) * 1000)
        assert response.status == 201, response.body
        ids.append(response.body["id"])
    return ids, ms
