"""The `local` provider: a real git checkout per task and a real `sandbox-agent` server for it."""

import asyncio
import contextlib
import shutil
from typing import Any

import psutil

from actors.git import GitError, git
from actors.providers import acp
from actors.providers import agent_process as agents
from actors.providers.base import PermanentError, TaskContext, TransientError
from schemas.settings import Settings

# Our JSON-RPC request ids: each request is found again by its id in the agent's stream (open_session).
INITIALIZE_ID, SESSION_NEW_ID, PROMPT_ID = "crucible-initialize", "crucible-session-new", "crucible-prompt"
SESSION_LIST_ID = "crucible-session-list"


class LocalProvider:
    """git and the agent's start run on its runner's threads; its talk with a live agent (ACP requests,
    health checks) runs on the runner's event loop, holding no thread while the agent answers."""

    uses_mirror = True
    converses = True

    def __init__(self, settings: Settings) -> None:
        self._s = settings

    def ensure_name(self, ctx: TaskContext) -> dict[str, Any]:
        raise NotImplementedError("the local provider names through the project's mirror")

    def create_sandbox(self, ctx: TaskContext) -> dict[str, Any]:
        """A clone of the mirror on the task's branch, built aside and renamed: whole or absent."""
        path = ctx.sandbox_path
        if path.is_dir():
            head = git("rev-parse", "--abbrev-ref", "HEAD", cwd=path).strip()
            if head != ctx.branch:
                raise PermanentError(f"sandbox {path} is on branch {head!r}, not {ctx.branch!r}")
            return {"id": ctx.task_id, "path": str(path)}
        staging = ctx.data / "tmp" / f"sandbox-{ctx.task_id}"
        shutil.rmtree(staging, ignore_errors=True)  # an interrupted attempt's leftovers; ours alone
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            clone = ("clone", "--quiet", "--", str(ctx.mirror), str(staging))
            git(*clone, timeout=self._s.git_timeout_s, cancelled=ctx.cancelled)
            if ctx.branch_exists:
                git("checkout", "--quiet", ctx.branch, "--", cwd=staging)
            else:
                git("checkout", "--quiet", "-b", ctx.branch, cwd=staging)
        except GitError as exc:
            raise TransientError(str(exc)) from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(path)
        return {"id": ctx.task_id, "path": str(path)}

    def ensure_agent(self, ctx: TaskContext) -> dict[str, Any]:
        """Adopt the task's live, healthy agent if there is one; otherwise start exactly one."""
        agents.install(self._s.sandbox_agent_bin, ctx.agent, self._s.git_timeout_s)
        for proc in agents.find(ctx.task_id, ctx.sandbox_path):
            port = agents.port_of(proc)
            endpoint = f"http://127.0.0.1:{port}"
            if port and agents.healthy(endpoint, timeout=self._s.agent_http_timeout_s):
                return {"endpoint": endpoint, "pid": proc.pid}
            agents.stop(proc)  # ours by its marker, but not answering: replace it
        log = ctx.data / "logs" / "agents" / f"{ctx.task_id}.log"
        binary, timeout = self._s.sandbox_agent_bin, self._s.agent_start_timeout_s
        endpoint, pid = agents.start(binary, ctx.task_id, ctx.sandbox_path, log, timeout, ctx.cancelled)
        return {"endpoint": endpoint, "pid": pid}

    async def open_session(self, ctx: TaskContext) -> str:
        """The ACP server named by the task id (idempotent on the agent's side), then one session in it.
        Run again after a crash, it adopts what the agent already answered (the server's stream replays
        it): never a second `initialize` or `session/new`, so never a second session. Each request has an
        id of its own, found again by it. A `session/new` the agent got but had not answered is adopted
        where the agent lists its sessions (see _unrecorded_session)."""
        endpoint, timeout = self._endpoint(ctx), self._s.agent_http_timeout_s
        try:
            answered = await acp.answers(endpoint, ctx.task_id, (INITIALIZE_ID, SESSION_NEW_ID), timeout)
        except (OSError, ValueError) as exc:
            raise TransientError(f"agent unreachable: {exc}") from exc
        url = f"{endpoint}/v1/acp/{ctx.task_id}?agent={ctx.agent}"
        if INITIALIZE_ID in answered and SESSION_NEW_ID not in answered:
            adopted = await self._unrecorded_session(url, ctx, answered[INITIALIZE_ID], timeout)
            if adopted is not None:
                return adopted
        if INITIALIZE_ID not in answered and SESSION_NEW_ID not in answered:
            params = {"protocolVersion": 1, "clientCapabilities": {}}
            init = {"jsonrpc": "2.0", "id": INITIALIZE_ID, "method": "initialize", "params": params}
            await self._rpc(url, init, timeout)
        if SESSION_NEW_ID not in answered:
            params = {"cwd": str(ctx.sandbox_path), "mcpServers": []}
            new = {"jsonrpc": "2.0", "id": SESSION_NEW_ID, "method": "session/new", "params": params}
            answered[SESSION_NEW_ID] = await self._rpc(url, new, timeout)
        result = answered[SESSION_NEW_ID]
        session_id = result.get("sessionId") if isinstance(result, dict) else None
        return str(session_id or ctx.task_id)  # the mock agent only echoes: the server id names the session

    async def _unrecorded_session(
        self, url: str, ctx: TaskContext, initialized: Any, timeout: float
    ) -> str | None:
        """The session an earlier attempt's `session/new` made in this agent run, if the agent announces
        ACP's `session/list`: the newest in the task's checkout that the task has not recorded (a
        revived agent that keeps sessions on disk may list the one of its previous run). Only this
        task's agent works in that checkout, so such a session is ours. None: make one."""
        capabilities = initialized.get("agentCapabilities") if isinstance(initialized, dict) else None
        sessions = (capabilities or {}).get("sessionCapabilities") or {}
        if sessions.get("list") is None:
            return None
        cwd = str(ctx.sandbox_path)
        ask = {"jsonrpc": "2.0", "id": SESSION_LIST_ID, "method": "session/list", "params": {"cwd": cwd}}
        try:
            listed = await self._rpc(url, ask, timeout)
        except (TransientError, PermanentError):
            return None  # listing is a courtesy of the agent: without it, a new session
        found = listed.get("sessions") if isinstance(listed, dict) else None
        ours = [
            s
            for s in found or []
            if isinstance(s, dict)
            and s.get("cwd") == cwd
            and s.get("sessionId") not in (None, ctx.session_id)
        ]
        if not ours:
            return None
        return str(max(ours, key=lambda s: str(s.get("updatedAt") or ""))["sessionId"])

    async def send_prompt(self, ctx: TaskContext, session_id: str) -> None:
        await self._prompt(ctx, session_id, PROMPT_ID, ctx.prompt)

    async def send_message(self, ctx: TaskContext, session_id: str, message_id: str, text: str) -> None:
        """A follow-up: a request id of its own, so that the agent's stream names it."""
        await self._prompt(ctx, session_id, f"{PROMPT_ID}-{message_id}", text)

    def conversation(self, ctx: TaskContext, after: int) -> acp.AcpStream:
        return acp.AcpStream(self._endpoint(ctx), ctx.task_id, after, self._s.agent_http_timeout_s)

    async def _prompt(self, ctx: TaskContext, session_id: str, request_id: str, text: str) -> None:
        """Sent, not awaited: a turn can take minutes; a timeout here means the agent is working."""
        url = f"{self._endpoint(ctx)}/v1/acp/{ctx.task_id}"
        prompt = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "session/prompt",
            "params": {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]},
        }
        with contextlib.suppress(TimeoutError):
            await acp.post(url, prompt, timeout=2.0)

    def release(self, ctx: TaskContext) -> None:
        for proc in agents.find(ctx.task_id, ctx.sandbox_path):
            agents.stop(proc)

    def destroy(self, ctx: TaskContext) -> None:
        """Stop the agent, remove the checkout and any half-made one (an interrupted create)."""
        self.release(ctx)
        shutil.rmtree(ctx.sandbox_path, ignore_errors=True)
        shutil.rmtree(ctx.data / "tmp" / f"sandbox-{ctx.task_id}", ignore_errors=True)

    async def health(self, ctx: TaskContext) -> dict[str, Any]:
        if not ctx.sandbox_path.is_dir():
            return {"status": "down", "message": "checkout missing"}
        found = await asyncio.to_thread(agents.find, ctx.task_id, ctx.sandbox_path)  # walks the processes
        live = [p for p in found if _is_running(p)]
        ok = any([await acp.healthy(f"http://127.0.0.1:{agents.port_of(p)}") for p in live])
        return {"status": "healthy" if ok else "degraded", "message": "" if ok else "agent not answering"}

    def _endpoint(self, ctx: TaskContext) -> str:
        if not ctx.agent_info:
            raise PermanentError("no agent recorded for this task")
        return str(ctx.agent_info["endpoint"])

    @staticmethod
    async def _rpc(url: str, body: dict[str, Any], timeout: float) -> Any:
        try:
            status, reply = await acp.post(url, body, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise TransientError(f"agent unreachable: {exc}") from exc
        if status >= 400 or not isinstance(reply, dict) or "error" in reply:
            detail = reply.get("detail") or reply.get("error") if isinstance(reply, dict) else status
            raise (PermanentError if status in (400, 409) else TransientError)(
                f"ACP {body['method']}: {detail}"
            )
        return reply.get("result")


def _is_running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running())
    except psutil.NoSuchProcess:
        return False
