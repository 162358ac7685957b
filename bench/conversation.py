"""The conversation: what recording one agent turn of 10,000 chunks costs, batched by burst (Crucible)
against a commit per chunk (the peer a naive follower would be), side by side.

    PYTHONPATH=. .venv/bin/python bench/conversation.py [--chunks 10000] [--runs 3]

An agent stand-in in its own process serves `GET /v1/acp/{server}` as sandbox-agent does (server-sent
events with ids), writing one `session/update` `agent_message_chunk` per token, each stamped with the
time it was written, as fast as it can. The follower is Crucible's own code: `AcpStream` reads it, and
`conversation.record_heard` records each burst in one transaction into a real task database
(synchronous=NORMAL, as served); the peer records each chunk in a transaction of its own. Figures: the
follower's CPU ms for the turn, the bytes the turn added on disk, transactions, and the lag from a
chunk's writing to its commit (p50, p99). Median of `--runs`. Nothing is asserted.
"""

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from actors.providers.acp import AcpStream
from actors.task import conversation
from actors.task.store import TaskStore, prepare_database
from bench.harness.report import median, percentile, report, table

FIELDS = {"id": "b" * 22, "workspace": "w", "project": "p", "title": "t", "branch": "b", "branch_given": 0}
FIELDS |= {"prompt": "p", "agent": "mock", "provider": "local"}


def agent(port: int, chunks: int) -> None:
    """The agent stand-in: one turn of `chunks` token-sized updates, then the stream stays open."""

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n in range(1, chunks + 1):
            update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "word "}}
            message = {
                "jsonrpc": "2.0",
                "method": "session/update",
                "params": {"sessionId": "s", "update": update},
            }
            message["written_at"] = time.time()
            await response.write(f"id: {n}\ndata: {json.dumps(message)}\n\n".encode())
        await asyncio.sleep(3600)
        return response

    app = web.Application()
    app.router.add_get("/v1/acp/{server}", stream)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


async def follow(port: int, chunks: int, path: Path, batched: bool) -> dict[str, float]:
    prepare_database(path)
    store = TaskStore(path, "NORMAL")
    store.create(FIELDS, {})
    size = path.stat().st_size + _wal(path)
    stream = AcpStream(f"http://127.0.0.1:{port}", "b" * 22, 0, 10.0)
    lags: list[float] = []
    heard = transactions = 0
    cpu = time.process_time()
    while heard < chunks:
        burst = await stream.burst()
        for part in [burst] if batched else [[event] for event in burst]:
            conversation.record_heard(store, 1, part)
            transactions += 1
        committed = time.time()
        lags += [committed - message["written_at"] for _, message in burst]
        heard += len(burst)
    cpu_ms = (time.process_time() - cpu) * 1000
    await stream.close()
    store.close()
    return {
        "follower CPU ms for the turn": cpu_ms,
        "bytes added on disk (database + WAL)": path.stat().st_size + _wal(path) - size,
        "transactions": transactions,
        "lag, written → committed p50 ms": percentile(lags, 50) * 1000,
        "lag, written → committed p99 ms": percentile(lags, 99) * 1000,
    }


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def one_run(chunks: int, batched: bool, port: int) -> dict[str, float]:
    server = multiprocessing.Process(target=agent, args=(port, chunks), daemon=True)
    server.start()
    try:
        time.sleep(1.0)  # listening
        with tempfile.TemporaryDirectory() as tmp:
            return asyncio.run(follow(port, chunks, Path(tmp) / "task.sqlite", batched))
    finally:
        server.kill()
        server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"batched": [], "per chunk": []}
    for run in range(args.runs):
        for n, (label, batched) in enumerate((("batched", True), ("per chunk", False))):
            results[label].append(one_run(args.chunks, batched, 47_000 + 2 * run + n))
        print(f"run {run + 1}/{args.runs} done", flush=True)
    figures = list(results["batched"][0])
    rows: list[list[Any]] = []
    for figure in figures:
        ours, peer = (median(r[figure] for r in results[label]) for label in ("batched", "per chunk"))
        rows.append([figure, ours, peer, f"{ours / peer:.2f}x" if peer else "—"])
    title = f"The conversation: one turn of {args.chunks:,} chunks, median of {args.runs} run(s)"
    body = table(["figure", "Crucible (a commit per burst)", "a commit per chunk", "ratio"], rows)
    report("conversation", title, body, results)


if __name__ == "__main__":
    main()
