"""ProjectActor: owns a project's database (task registry, branch reservations, idempotency keys) and its
mirror of the user's repository, and keeps a pool of ready task actors.

  StartProject  → open the database, fill the pool, bring the mirror up to date in the background.
  CreateTask    → idempotency check, reserve id and branch (durable), hand Initialize to a ready actor.
  ActivateTasks → start-up: give each task an actor, which resumes it.
  EnsureMirror  → fetch into the mirror (one fetch at a time serves every waiting task).
  RefillPool    → fork ready actors off the request path.
Only this actor writes the mirror: concurrent git writes to one repository fail intermittently.
"""

import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from thespian.actors import ActorTypeDispatcher, ChildActorExited, WatchMessage

from actors import db, logs
from actors.git import git
from actors.offload import Offloader
from actors.task import TaskActor
from schemas.api import Project
from schemas.messages import Failure
from schemas.project_messages import ActivateTasks, EnsureMirror, MirrorReady, RefillPool, StartProject
from schemas.settings import Settings
from schemas.task_messages import Activate, Bind, Initialize
from schemas.workspace_messages import CreateTask

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL, title TEXT NOT NULL,
  branch TEXT NOT NULL, branch_given INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS branches (branch TEXT PRIMARY KEY, task_id TEXT NOT NULL);
"""
IDEMPOTENCY_TTL_S = 24 * 3600


def new_task_id() -> str:
    """22 hex characters: milliseconds first, so ids sort by creation time (newest-first lists)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


def derive_title(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "task")
    return first if len(first) <= 60 else first[:57].rstrip() + "..."


def derive_branch(title: str, task_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "task"
    return f"crucible/{slug}-{task_id[-6:]}"


def mirror_path(data: Path, workspace: str, project: str) -> Path:
    return data / "repos" / workspace / f"{project}.git"


def sync_mirror(repo: str, mirror: Path, timeout: float) -> tuple[str, set[str]]:
    """Clone or fetch the mirror; return its default branch and its branches. Runs off the loop."""
    if not (mirror / "HEAD").exists():
        staging = mirror.with_name(mirror.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)  # an interrupted clone: nothing else lives there
        staging.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--mirror", "--quiet", "--", repo, str(staging), timeout=timeout)
        staging.rename(mirror)
    else:
        git("remote", "update", "--prune", cwd=mirror, timeout=timeout)
    default = git("symbolic-ref", "--short", "HEAD", cwd=mirror).strip()
    heads = git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads", cwd=mirror).split()
    return default, set(heads)


class ProjectActor(ActorTypeDispatcher):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.project: Project | None = None
        self.settings: Settings | None = None
        self.workspace_addr: Any = None
        self.conn: sqlite3.Connection | None = None
        self.mirror = Path()
        self.pool: list[Any] = []
        self.tasks: dict[str, Any] = {}  # task id → its live actor
        self.offload: Offloader | None = None
        self.mirror_waiters: list[tuple[Any, EnsureMirror]] = []
        self.mirror_busy = False
        self.log: Any = logs.get()

    def receiveMessage(self, msg: Any, sender: Any) -> Any:
        super().receiveMessage(msg, sender)
        return self.offload.watch() if self.offload else None

    def receiveMsg_StartProject(self, msg: StartProject, sender: Any) -> None:
        p, s = msg.project, msg.settings
        self.project, self.settings, self.workspace_addr = p, s, msg.workspace_addr
        logs.configure_actor(s.data, s.log_format, s.log_level)
        self.log = logs.get(actor="project", workspace=p.workspace, project=p.name, pid=os.getpid())
        path = s.data / "workspaces" / p.workspace / "projects" / f"{p.name}.sqlite"
        self.conn = db.connect(path, SCHEMA, s.sqlite_synchronous)
        self.mirror = mirror_path(s.data, p.workspace, p.name)
        self.offload = Offloader("mirror")
        self.send(self.myAddress, RefillPool())
        if s.provider.value == "local":
            self._sync_mirror()  # warm the mirror now so the first task's naming step is quick

    def receiveMsg_CreateTask(self, msg: CreateTask, sender: Any) -> None:
        assert self.conn and self.settings
        body = msg.body
        body_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        if msg.idempotency_key:
            row = self.conn.execute(
                "SELECT * FROM tasks WHERE idempotency_key = ?", (msg.idempotency_key,)
            ).fetchone()
            if row and _age_s(row["created_at"]) > IDEMPOTENCY_TTL_S:
                self.conn.execute("UPDATE tasks SET idempotency_key = NULL WHERE id = ?", (row["id"],))
                row = None
            if row and row["body_hash"] != body_hash:
                self._refuse(
                    msg,
                    409,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with a different body",
                    {"task_id": row["id"]},
                )
                return
            if row:
                # Replay: Initialize is idempotent, and re-creates the record if a crash lost it.
                self._initialize(msg, row["id"], row["title"], row["branch"], bool(row["branch_given"]))
                return
        task_id = new_task_id()
        title = body.title or derive_title(body.prompt)
        branch = body.branch or derive_branch(title, task_id)
        holder = self.conn.execute("SELECT task_id FROM branches WHERE branch = ?", (branch,)).fetchone()
        if holder:
            self._refuse(
                msg, 409, "branch_taken", f"branch {branch!r} belongs to another task", {"task_id": holder[0]}
            )
            return
        with db.transaction(self.conn) as c:
            c.execute(
                "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task_id, msg.idempotency_key, body_hash, title, branch, int(bool(body.branch)), db.utcnow()),
            )
            c.execute("INSERT INTO branches VALUES (?, ?)", (branch, task_id))
        self._initialize(msg, task_id, title, branch, bool(body.branch))

    def receiveMsg_ActivateTasks(self, msg: ActivateTasks, sender: Any) -> None:
        for task_id in msg.task_ids:
            self.send(self._actor_for(task_id), Activate(task_id=task_id))
        self.log.info("tasks.activated", count=len(msg.task_ids))

    def receiveMsg_EnsureMirror(self, msg: EnsureMirror, sender: Any) -> None:
        self.mirror_waiters.append((sender, msg))
        if not self.mirror_busy:
            self._sync_mirror()

    def receiveMsg_RefillPool(self, msg: RefillPool, sender: Any) -> None:
        # One fork per message, so that creates queued behind it wait for at most one fork.
        assert self.settings
        if len(self.pool) < self.settings.pool_size:
            self.pool.append(self._new_task_actor())
            self.send(self.myAddress, RefillPool())

    def receiveMsg_WatchMessage(self, msg: WatchMessage, sender: Any) -> None:
        assert self.offload
        self.offload.deliver()

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Any) -> None:
        self.tasks = {t: a for t, a in self.tasks.items() if a != msg.childAddress}
        self.pool = [a for a in self.pool if a != msg.childAddress]

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Any) -> None:
        if self.offload:
            self.offload.close()

    # ---- helpers --------------------------------------------------------------------------------

    def _initialize(self, msg: CreateTask, task_id: str, title: str, branch: str, given: bool) -> None:
        assert self.settings
        body = msg.body
        init = Initialize(
            request_id=msg.request_id,
            reply_to=msg.reply_to,
            task_id=task_id,
            title=title,
            branch=branch,
            branch_given=given,
            prompt=body.prompt,
            agent=body.agent,
            provider=body.provider or self.settings.provider,
        )
        self.send(self._actor_for(task_id), init)
        self.send(self.myAddress, RefillPool())

    def _actor_for(self, task_id: str) -> Any:
        """The task's live actor, or a ready one from the pool (a fork only when the pool is empty)."""
        addr = self.tasks.get(task_id)
        if addr is None:
            addr = self.pool.pop(0) if self.pool else self._new_task_actor()
            self.tasks[task_id] = addr
        return addr

    def _new_task_actor(self) -> Any:
        assert self.project and self.settings
        addr = self.createActor(TaskActor)
        self.send(
            addr,
            Bind(
                workspace=self.project.workspace,
                project=self.project.name,
                repo=self.project.repo,
                mirror=self.mirror,
                settings=self.settings,
                workspace_addr=self.workspace_addr,
                project_addr=self.myAddress,
            ),
        )
        return addr

    def _sync_mirror(self) -> None:
        assert self.offload and self.project and self.settings
        self.mirror_busy = True
        waiters, self.mirror_waiters = self.mirror_waiters, []
        self.offload.submit(
            lambda result, error: self._mirror_synced(waiters, result, error),
            sync_mirror,
            self.project.repo,
            self.mirror,
            self.settings.git_timeout_s,
        )

    def _mirror_synced(
        self, waiters: list[tuple[Any, EnsureMirror]], result: Any, error: BaseException | None
    ) -> None:
        self.mirror_busy = False
        if error:
            self.log.warning("mirror.sync_failed", error=str(error))
        default, heads = result if result else (None, set())
        for addr, ask in waiters:
            self.send(
                addr,
                MirrorReady(
                    task_id=ask.task_id,
                    attempt=ask.attempt,
                    mirror=str(self.mirror),
                    default_branch=default,
                    branch_exists=ask.branch in heads,
                    error=str(error) if error else None,
                ),
            )
        if self.mirror_waiters:  # asked while we fetched: they get a fetch that started after they asked
            self._sync_mirror()

    def _refuse(self, msg: CreateTask, status: int, code: str, message: str, details: Any = None) -> None:
        self.send(
            msg.reply_to,
            Failure(request_id=msg.request_id, status=status, code=code, message=message, details=details),
        )


def _age_s(iso: str) -> float:
    return time.time() - db.parse(iso)
