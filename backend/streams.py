"""Websocket streams: a task's events, and a workspace's feed of task summaries.

Each stream subscribes to the hub *before* it reads what is already stored, so nothing committed in
between is missed; a frame whose key (seq or cursor) was already sent is skipped, so nothing is sent
twice; and a key that jumps ahead (a push that never arrived) is filled from the database, never
skipped. The order is the key's order.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, web

from backend.hub import Subscription
from backend.routes import RUNTIME, task_id_of, task_not_found
from backend.validation import int_param

SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
CUTTING = web.AppKey("cutting", set[asyncio.Task[None]])  # closes in progress, kept from the collector
stream_routes = web.RouteTableDef()
PAGE = 1000
TRY_AGAIN_LATER = 1013  # the client fell behind: reconnect with `since`

Fill = Callable[[int, int | None], Awaitable[list[tuple[int, str]]]]


def _since(request: web.Request) -> int | None:
    """A task stream's `since`: absent or empty means live only."""
    return int_param(request, "since", 0, 0) if request.query.get("since") else None


@stream_routes.get("/v1/tasks/{task_id}/events")
async def task_events(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    task_id = task_id_of(request)
    since = _since(request)
    if await rt.reader.task(task_id) is None:
        raise task_not_found(request)

    async def fill(after: int, upto: int | None) -> list[tuple[int, str]]:
        frames: list[tuple[int, str]] = []
        while True:
            limit = PAGE if upto is None else min(PAGE, upto - after)
            events = await rt.reader.history(task_id, after, limit) if limit > 0 else []
            frames += [(e["seq"], json.dumps(e)) for e in events]
            if len(events) < PAGE or (upto is not None and events[-1]["seq"] >= upto):
                return frames
            after = events[-1]["seq"]

    async def current() -> int:
        record = await rt.reader.task(task_id)
        return int(record["seq"]) if record else 0

    return await _stream(request, ("task", task_id), since, fill, current, [])


@stream_routes.get("/v1/workspaces/{ws}/events")
async def workspace_events(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    ws = request.match_info["ws"]
    rt.workspace_addr(ws)
    raw = request.query.get("since")
    since = int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None  # '²' is a digit

    async def fill(after: int, upto: int | None) -> list[tuple[int, str]]:
        return [(f["cursor"], json.dumps(f)) for f in await rt.reader.feed(ws, after, upto)]

    async def current() -> int:
        return await rt.reader.max_cursor(ws)

    preface: list[str] = []
    if raw is not None and (since is None or since > await current()):
        preface, since = [json.dumps({"type": "resync"})], 0  # an unusable cursor: start over, in full
    return await _stream(request, ("feed", ws), since, fill, current, preface)


async def _stream(
    request: web.Request,
    topic: tuple[str, str],
    since: int | None,
    fill: Fill,
    current: Callable[[], Awaitable[int]],
    preface: list[str],
) -> web.StreamResponse:
    hub = request.app[RUNTIME].hub
    ws = web.WebSocketResponse(heartbeat=20.0, compress=False)  # frames are shared, so never compressed
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    sub = hub.subscribe(*topic)
    sub.on_overflow = lambda: _cut_off(request, ws)
    incoming = asyncio.create_task(_drain(ws, sub))
    try:
        for frame in preface:
            await ws.send_str(frame)
        if since is None:
            sub.last = await current()
        else:
            sub.last = since
            await _send(ws, sub, await fill(since, None))
        while not ws.closed:
            if not sub.frames:
                sub.direct = _direct_writer(request, ws)
            await sub.ready.wait()  # set by a push the hub could not write directly, or the client going
            sub.direct = None
            if incoming.done():
                break
            await _deliver(ws, sub, fill)
    except ConnectionResetError:
        pass  # the client went while a frame was being written: a normal end, not a server error
    finally:
        hub.unsubscribe(sub)
        incoming.cancel()
        request.app[SOCKETS].discard(ws)
    return ws


async def _deliver(ws: web.WebSocketResponse, sub: Subscription, fill: Fill) -> None:
    frames = sub.take()
    if sub.overflowed:
        return  # being cut off
    for key, frame in frames:
        if key > sub.last + 1:
            await _send(ws, sub, await fill(sub.last, key - 1))
        await _send(ws, sub, [(key, frame)])


async def _send(ws: web.WebSocketResponse, sub: Subscription, frames: list[tuple[int, str]]) -> None:
    for key, frame in frames:
        if key > sub.last:
            await ws.send_str(frame)
            sub.last = key


def _direct_writer(request: web.Request, ws: web.WebSocketResponse) -> Callable[[bytes], bool]:
    """Writes a ready-made frame at once, if the connection takes it without buffering; aiohttp's own
    writes (pings, close) are whole frames too, so frames never interleave."""
    transport = request.transport

    def write(wire: bytes) -> bool:
        if ws.closed or transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return False
        transport.write(wire)
        return True

    return write


def _cut_off(request: web.Request, ws: web.WebSocketResponse) -> None:
    """A subscriber fell behind: close it with 1013 if its connection still takes a frame, else drop
    the connection. Its handler may be blocked writing to it; either way that write then ends."""

    async def close() -> None:
        try:
            async with asyncio.timeout(1.0):
                await ws.close(code=TRY_AGAIN_LATER, message=b"fell behind; reconnect with since")
        except TimeoutError:
            if request.transport is not None:
                request.transport.abort()

    task = asyncio.get_running_loop().create_task(close())
    request.app[CUTTING].add(task)
    task.add_done_callback(request.app[CUTTING].discard)


async def _drain(ws: web.WebSocketResponse, sub: Subscription) -> None:
    """Read until the client goes (pongs and the close handshake are handled while reading), then wake
    the writer so that it ends too."""
    try:
        async for _ in ws:
            pass
    finally:
        sub.ready.set()


async def close_sockets(app: web.Application) -> None:
    """On shutdown: every socket closes with 1001 (going away); clients reconnect with `since`."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
