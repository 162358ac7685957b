"""The aiohttp application, built by a factory around a running Runtime."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from backend.auth import auth_middleware
from backend.dashboard import dashboard_routes
from backend.errors import ApiError, Handler, error_middleware
from backend.guards import guard_middleware
from backend.openapi import openapi_routes
from backend.routes import RUNTIME, routes
from backend.runtime import Runtime
from backend.streams import CUTTING, SOCKETS, close_sockets, stream_routes

MAX_BODY = 1024 * 1024
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response carries X-Request-Id (the client's, or a new one), bound into the logs."""
    rid = request.headers.get("X-Request-Id", "")[:128] or request.app[RUNTIME].bridge.request_id()
    with structlog.contextvars.bound_contextvars(request_id=rid):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-Request-Id"] = rid
            raise
        response.headers["X-Request-Id"] = rid
        return response


@web.middleware
async def admission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Writes wait for a ready system: 503 with Retry-After while starting or draining."""
    state = request.app[RUNTIME].health
    if request.method in _WRITES and state != "ok":
        raise ApiError(503, state, f"the server is {state}", headers={"Retry-After": "1"})
    return await handler(request)


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            request_id_middleware,
            error_middleware,
            guard_middleware(runtime.settings),  # Host and Origin, before the token: docs/security.md
            auth_middleware,
            admission_middleware,
        ],
    )
    app[RUNTIME] = runtime
    app[SOCKETS] = set()
    app[CUTTING] = set()
    app.add_routes([*routes, *openapi_routes])
    app.add_routes(stream_routes)
    app.add_routes(dashboard_routes)
    app.cleanup_ctx.append(_runtime_lifecycle)
    app.on_startup.append(_drain_on_signal)
    app.on_shutdown.append(close_sockets)
    return app


async def _drain_on_signal(app: web.Application) -> None:
    """SIGTERM/SIGINT drain first (docs/design.md, rule 8), then stop the server; a second signal
    stops at once. Replaces the handlers run_app installed, which stop at once."""
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task[None]] = []

    async def drain_then_exit() -> None:
        await app[RUNTIME].drain()
        loop.call_soon(_graceful_exit)

    def on_signal() -> None:
        if draining:
            _graceful_exit()
        draining.append(loop.create_task(drain_then_exit()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)


def _graceful_exit() -> None:
    """run_app's own way out: GracefulExit raised in a loop callback ends run_app, which then cleans up."""
    raise web.GracefulExit()


async def _watch_runners(runtime: Runtime, starting: "asyncio.Task[None]") -> None:
    """Once started: a runner that dies stops the server (Runtime.watch_runners)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(starting)
    loop = asyncio.get_running_loop()
    await runtime.watch_runners(lambda: loop.call_soon(_graceful_exit))


async def _runtime_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Resume in the background, so that health can say `starting` meanwhile."""
    runtime = app[RUNTIME]
    await runtime.hub.start()
    starting = asyncio.create_task(runtime.start())
    watching = asyncio.create_task(_watch_runners(runtime, starting))
    yield
    watching.cancel()
    runtime.health = "draining"
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await starting
    await runtime.hub.stop()
    await runtime.doors.close()
