"""The `sim` provider: steps that only take time, for tests and benchmarks. Its calls are coroutines:
they wait on the runner's event loop, as calls to a remote sandbox API would.

Its side effects stay inside the data directory: one marker per effect under the task's sandbox
directory, made exclusively, so a repeated call adopts instead of duplicating. The first is a file; the
others are hard links to it, which are just as exclusive and cost no inode (making one costs 0.7-1 ms of
kernel time on the VMs Crucible is measured on: the sim stands for a remote API, whose effects cost the
caller nothing). Each creation is also appended to `<data>/sim/effects.jsonl`, which lets tests and
benchmarks count duplicates.
"""

import asyncio
import errno
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from actors.providers.base import Stream, TaskContext, TransientError

CANCEL_CHECK_S = 0.05


class SimProvider:
    uses_mirror = False
    converses = False  # a simulated agent says nothing

    def __init__(self, step_ms: int, fail: float) -> None:
        self._delay = step_ms / 1000
        self._fail = fail

    async def ensure_name(self, ctx: TaskContext) -> dict[str, Any]:
        await self._work(ctx)
        return {}

    async def create_sandbox(self, ctx: TaskContext) -> dict[str, Any]:
        await self._work(ctx)
        ctx.sandbox_path.mkdir(parents=True, exist_ok=True)
        self._effect(ctx, "sandbox")
        return {"id": ctx.task_id, "path": str(ctx.sandbox_path)}

    async def ensure_agent(self, ctx: TaskContext) -> dict[str, Any]:
        await self._work(ctx)
        self._effect(ctx, "agent")
        return {"endpoint": f"sim://{ctx.task_id}", "pid": None}

    async def open_session(self, ctx: TaskContext) -> str:
        await self._work(ctx)
        self._effect(ctx, "session")
        return ctx.task_id

    async def send_prompt(self, ctx: TaskContext, session_id: str) -> None:
        self._effect(ctx, "prompt")

    async def release(self, ctx: TaskContext) -> None:
        await self._work(ctx)

    async def destroy(self, ctx: TaskContext) -> None:
        await self._work(ctx)
        shutil.rmtree(ctx.sandbox_path, ignore_errors=True)

    async def send_message(self, ctx: TaskContext, session_id: str, message_id: str, text: str) -> None:
        self._effect(ctx, f"message-{message_id}")

    def conversation(self, ctx: TaskContext, after: int) -> Stream:
        raise NotImplementedError("a simulated agent has no stream to follow")

    def health(self, ctx: TaskContext) -> dict[str, Any]:
        ok = ctx.sandbox_path.is_dir()
        return {"status": "healthy" if ok else "down", "message": "" if ok else "sandbox missing"}

    async def _work(self, ctx: TaskContext) -> None:
        """Wait as a remote provider's call would: on the event loop, holding no thread (so thousands of
        tasks can wait at once), and looking every CANCEL_CHECK_S whether the task is being stopped."""
        deadline = time.monotonic() + self._delay
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, CANCEL_CHECK_S))
            if ctx.cancelled.is_set():
                raise TransientError("cancelled (the task is being archived or killed)")
        if self._fail and random.random() < self._fail:
            raise TransientError("simulated transient failure")

    def _effect(self, ctx: TaskContext, name: str) -> None:
        marker = ctx.sandbox_path / f".sim-{name}"
        try:
            try:  # a hard link to the sandbox's marker: exclusive too, and no new inode (~1 ms each)
                os.link(ctx.sandbox_path / ".sim-sandbox", marker)
            except OSError as error:
                if error.errno not in (errno.ENOENT, errno.EMLINK):  # not the first marker, not full
                    raise
                marker.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # an earlier attempt made it: adopt
        log = effects_log(ctx.data)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            f.write(json.dumps({"task_id": ctx.task_id, "effect": name}) + "\n")


def effects_log(data: Path) -> Path:
    return data / "sim" / "effects.jsonl"
