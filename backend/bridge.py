"""The bridge from aiohttp to the actor system.

`ActorSystem.ask` shared between threads hands replies to the wrong caller, so every bridge thread
owns one long-lived `private()` context, and every request carries an id its reply must echo; a late
reply to an earlier, timed-out ask is recognised and dropped. Thespian calls block (a tell to a busy
actor waits for it), so they run on the bridge's threads, never on the event loop.
"""

import asyncio
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from thespian.actors import PoisonMessage

from actors.runtime.refs import addressed
from schemas.messages import Address, Reply, Request


class BridgeError(Exception):
    """The actors did not answer properly: a 503 for the client, never a traceback."""


class Bridge:
    def __init__(self, asys: Any, threads: int, timeout: float) -> None:
        self._asys = asys
        self._timeout = timeout
        self._local = threading.local()
        self._contexts: list[Any] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="actor-bridge")
        self._log = structlog.get_logger().bind(component="bridge")

    @staticmethod
    def request_id() -> str:
        """Unique per ask (its reply is matched by it), prefixed with the HTTP request's X-Request-Id
        where there is one, so that the actors' log lines lead back to the request."""
        http = structlog.contextvars.get_contextvars().get("request_id")
        token = secrets.token_hex(8)
        return f"{http}/{token}" if http else token

    async def ask(self, addr: Address, msg: Request, timeout: float | None = None) -> Reply:
        loop = asyncio.get_running_loop()
        reply: Reply = await loop.run_in_executor(self._pool, self._ask, addr, msg, timeout or self._timeout)
        return reply

    async def create_actor(self, cls: type, global_name: str) -> Any:
        """Look up (or create) a named thespian actor (a runner), from a bridge thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self._context().createActor(cls, globalName=global_name)
        )

    def _context(self) -> Any:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            manager = self._asys.private()
            ctx = manager.__enter__()
            self._local.ctx, self._local.manager = ctx, manager
            with self._lock:
                self._contexts.append(manager)
        return ctx

    def _ask(self, addr: Address, msg: Request, timeout: float) -> Reply:
        ctx = self._context()
        deadline = time.monotonic() + timeout
        reply = ctx.ask(*addressed(addr, msg), timeout)
        while True:
            if reply is None:
                raise BridgeError(f"no answer from the actors within {timeout:.0f}s")
            if isinstance(reply, PoisonMessage):
                self._log.error("actor.poison", message=type(msg).__name__, details=str(reply.details))
                raise BridgeError("the actor failed while handling the request")
            if isinstance(reply, Reply) and reply.request_id == msg.request_id:
                return reply
            self._log.warning("bridge.stale_reply", got=type(reply).__name__)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BridgeError(f"no answer from the actors within {timeout:.0f}s")
            reply = ctx.listen(remaining)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for manager in self._contexts:
                try:
                    manager.__exit__(None, None, None)
                except Exception:  # the system may already be gone at shutdown
                    continue
            self._contexts.clear()
