"""Drive a TaskActor without an actor system: messages in, sends and wakeups recorded, step work run
inline (or held back, to stand for work still in progress when a crash or a deadline strikes)."""

import asyncio
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from thespian.actors import WatchMessage

from actors.providers.base import PermanentError, TaskContext
from actors.task import actor as task_module
from actors.task.actor import TaskActor
from actors.task.wakeups import TaskWakeup
from schemas.project_messages import BranchDone, KeepBranch, ReleaseBranch
from schemas.settings import Settings
from schemas.status import AgentKind, ProviderKind, TaskStatus
from schemas.task_messages import Activate, Bind, Initialize, Provision, TaskAction, TaskCommand
from tests.helpers.addresses import Named

SELF, WORKSPACE, PROJECT, CLIENT = Named("self"), Named("workspace"), Named("project"), Named("client")


class FakeProvider:
    """Records calls; `failures[step]` lists exceptions to raise on successive calls of that step."""

    uses_mirror = False
    converses = False

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.contexts: list[TaskContext] = []
        self.failures: dict[str, list[BaseException]] = {}

    def _call(self, name: str, ctx: TaskContext | None = None) -> None:
        self.calls.append(name)
        if ctx is not None:
            self.contexts.append(ctx)
        pending = self.failures.get(name)
        if pending:
            raise pending.pop(0)

    def ensure_name(self, ctx: TaskContext) -> dict[str, Any]:
        self._call("ensure_name")
        return {}

    def create_sandbox(self, ctx: TaskContext) -> dict[str, Any]:
        self._call("create_sandbox", ctx)
        return {"id": ctx.task_id, "path": f"/sandboxes/{ctx.task_id}"}

    def ensure_agent(self, ctx: TaskContext) -> dict[str, Any]:
        self._call("ensure_agent", ctx)
        return {"endpoint": "http://127.0.0.1:1", "pid": 42}

    def open_session(self, ctx: TaskContext) -> str:
        self._call("open_session", ctx)
        return "session-1"

    def send_prompt(self, ctx: TaskContext, session_id: str) -> None:
        self._call("send_prompt")

    def release(self, ctx: TaskContext) -> None: ...
    def destroy(self, ctx: TaskContext) -> None:
        self._call("destroy")

    def health(self, ctx: TaskContext) -> dict[str, Any]:
        return {"status": "healthy"}

    def send_message(self, ctx: TaskContext, session_id: str, message_id: str, text: str) -> None:
        self._call(f"message:{text}")


class InlineOffloader:
    """Runs work at once; outcomes wait in `ready` (or in `held`, while `hold` is set) for pump()."""

    def __init__(self) -> None:
        self.ready: list[tuple[Callable[..., None], Any, BaseException | None]] = []
        self.held: list[tuple[Callable[..., None], Any, BaseException | None]] = []
        self.hold = False

    def submit(self, done: Callable[..., None], fn: Callable[..., Any], *args: Any) -> None:
        try:
            result = fn(*args)
            outcome = (done, asyncio.run(result) if inspect.iscoroutine(result) else result, None)
        except BaseException as exc:
            outcome = (done, None, exc)
        (self.held if self.hold else self.ready).append(outcome)

    def deliver(self) -> None:
        ready, self.ready = self.ready, []
        for done, result, error in ready:
            done(result, error)

    def close(self) -> None: ...


class HarnessActor(TaskActor):
    myAddress = SELF  # type: ignore[assignment]


class HarnessCell:
    """What a runner gives its actors, as far as a task actor uses it: work runs inline."""

    def offloader(self) -> InlineOffloader:
        return InlineOffloader()


class RecordingPusher:
    """Keeps what the actor pushes to the hub, in order."""

    def __init__(self, pushed: list[Any]) -> None:
        self.push = pushed.append


class Harness:
    def __init__(self, data: Path, provider: FakeProvider, monkeypatch: Any, **settings: Any) -> None:
        self.data, self.provider = data, provider
        self.settings = Settings(data_dir=data, provider=ProviderKind.sim, **settings)
        monkeypatch.setattr(task_module, "make_provider", lambda kind, s: provider)
        self.sent: list[tuple[Any, Any]] = []
        self.pushed: list[Any] = []
        self.wakeups: list[tuple[float, Any]] = []
        self.actor = self._new_actor()

    def _new_actor(self) -> HarnessActor:
        actor = HarnessActor()
        actor._myRef = HarnessCell()
        actor.send = lambda addr, msg: self.sent.append((addr, msg))  # type: ignore[method-assign]
        actor.wakeupAfter = lambda delay, payload=None: self.wakeups.append(  # type: ignore[method-assign]
            (delay.total_seconds(), payload)
        )
        actor.receiveMessage(
            Bind(
                workspace="ws",
                project="p",
                repo="/repo",
                mirror=self.data / "mirror.git",
                settings=self.settings,
                workspace_addr=WORKSPACE,
                project_addr=PROJECT,
            ),
            PROJECT,
        )
        assert actor.news
        actor.news.pusher = RecordingPusher(self.pushed)  # type: ignore[assignment]
        return actor

    @property
    def offload(self) -> InlineOffloader:
        return self.actor.offload  # type: ignore[return-value]

    def initialize(self, task_id: str = "0" * 22) -> str:
        self.actor.receiveMessage(
            Initialize(
                request_id="r1",
                reply_to=CLIENT,
                task_id=task_id,
                title="Fix it",
                branch="fix-it",
                branch_given=False,
                prompt="fix it",
                agent=AgentKind.mock,
                provider=ProviderKind.sim,
            ),
            PROJECT,
        )
        return task_id

    def pump(self, limit: int = 100) -> None:
        """Deliver self-sent messages and finished work until nothing moves."""
        for _ in range(limit):
            own = [m for a, m in self.sent if a == SELF]
            self.sent = [(a, m) for a, m in self.sent if a != SELF]
            asked = any(a == PROJECT and isinstance(m, KeepBranch | ReleaseBranch) for a, m in self.sent)
            if not own and not self.offload.ready and not asked:
                return
            for msg in own:
                self.actor.receiveMessage(msg, SELF)
            self.answer_project()
            self.actor.receiveMessage(WatchMessage([]), SELF)
        raise AssertionError("the step machine did not settle")

    def answer_project(self) -> None:
        """Play the project (and its mirror): branch work is done at once."""
        asks = [m for a, m in self.sent if a == PROJECT and isinstance(m, KeepBranch | ReleaseBranch)]
        self.sent = [(a, m) for a, m in self.sent if m not in asks]
        for ask in asks:
            self.actor.receiveMessage(BranchDone(task_id=ask.task_id, attempt=ask.attempt), PROJECT)

    def command(self, action: str) -> Any:
        """A TaskCommand from a client; returns the reply it got."""
        command = TaskCommand(request_id="c1", task_id="0" * 22, action=TaskAction(action), reply_to=CLIENT)
        self.actor.receiveMessage(command, PROJECT)
        replies = [m for a, m in self.sent if a == CLIENT and getattr(m, "request_id", None) == "c1"]
        self.sent = [(a, m) for a, m in self.sent if m not in replies]
        return replies[-1] if replies else None

    def run_until_status(self, status: str) -> None:
        """Pump until the task enters `status`; its work stays in flight (its outcome held back)."""
        for _ in range(100):
            own = [m for a, m in self.sent if a == SELF]
            self.sent = [(a, m) for a, m in self.sent if a != SELF]
            for msg in own:
                self.actor.receiveMessage(msg, SELF)
            if self.record()["status"] == status:
                self.offload.held += self.offload.ready
                self.offload.ready.clear()
                return
            self.actor.receiveMessage(WatchMessage([]), SELF)
        raise AssertionError(f"never reached {status}")

    def fire_wakeup(self, kind: type[TaskWakeup]) -> None:
        """Deliver the latest pending wakeup of this kind (RetryDue, DeadlineDue, ResumeDue, …)."""
        from thespian.actors import WakeupMessage

        delay, payload = next(w for w in reversed(self.wakeups) if isinstance(w[1], kind))
        self.wakeups.remove((delay, payload))
        self.actor.receiveMessage(WakeupMessage(delay, payload), SELF)
        self.pump()

    def crash(self) -> None:
        """The process dies: nothing in memory survives; its lock and database handle go with it."""
        import os

        assert self.actor.store and self.actor.lock_fd is not None
        self.actor.store.close()
        os.close(self.actor.lock_fd)
        self.actor = self._new_actor()
        self.sent.clear()
        self.wakeups.clear()

    def let_go(self) -> None:
        """The project lets the actor go (ActorExitRequest); the next message for the task makes another."""
        from thespian.actors import ActorExitRequest

        self.actor.receiveMessage(ActorExitRequest(), PROJECT)
        assert self.actor.store is None and self.actor.lock_fd is None
        self.actor = self._new_actor()

    def activate(self, task_id: str = "0" * 22) -> None:
        self.actor.receiveMessage(Activate(task_id=task_id), PROJECT)
        self.pump()

    def provision(self, task_id: str = "0" * 22) -> None:
        self.actor.receiveMessage(Provision(task_id=task_id), SELF)
        self.pump()

    def record(self) -> dict[str, Any]:
        assert self.actor.store
        return self.actor.store.record()

    def events(self) -> list[tuple[str, str]]:
        assert self.actor.store
        rows = self.actor.store._conn.execute("SELECT kind, status FROM events ORDER BY seq").fetchall()
        return [(r[0], r[1]) for r in rows]

    def seqs(self) -> list[int]:
        assert self.actor.store
        return [r[0] for r in self.actor.store._conn.execute("SELECT seq FROM events ORDER BY seq")]


CLEAN_EVENTS = [
    ("task.created", "init_enqueue_provision"),
    ("task.status", "init_ensure_name"),
    ("task.named", "init_ensure_name"),
    ("task.status", "init_create_sandbox"),
    ("task.sandbox", "init_create_sandbox"),
    ("task.status", "init_ensure_agent"),
    ("task.agent", "init_ensure_agent"),
    ("task.status", "init_create_session"),
    ("task.session", "init_create_session"),
    ("task.status", "running"),
    ("task.initialized", "running"),
]

__all__ = ["CLEAN_EVENTS", "FakeProvider", "Harness", "PermanentError", "TaskStatus"]
