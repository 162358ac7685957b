"""MirrorActor: the only writer of a project's mirror of the user's repository, and the project's hands
on the host it runs on (one per project per host: actors/project/kits.py).

  StartMirror  → clone or fetch the mirror at once, so the first task's naming step is quick. On a worker
                 that (re)joined, also say which of the project's tasks there must resume, and which run
                 without their agent (revived, as the leader's are at its start).
  EnsureMirror → fetch, then answer every task that asked: one fetch at a time serves all waiters.
  KeepBranch   → archive: fetch the task's branch from its checkout into the mirror.
  ReleaseBranch → kill: delete the task's branch from the mirror.
  ReadTask     → the reader interface for this host's tasks: their databases are read here, as the web
                 process reads the leader's; a read activates no task actor.
Concurrent git writes to one repository fail intermittently ("config: File exists"), so every write
to the mirror goes through this one actor, off its message loop.
"""

import os
import shutil
from pathlib import Path
from typing import Any

from actors import logs
from actors.git import git
from actors.offload import OffloadingActor
from actors.providers import agent_process as agents
from actors.task.reads import read_on_disk
from actors.task.store import task_db_path
from schemas.messages import Address, Failure
from schemas.project_messages import (
    BranchDone,
    EnsureMirror,
    HostScanned,
    KeepBranch,
    MirrorReady,
    ReleaseBranch,
    StartMirror,
)
from schemas.status import settled
from schemas.task_messages import ReadTask, TaskRead


def mirror_path(data: Path, workspace: str, project: str) -> Path:
    return data / "repos" / workspace / f"{project}.git"


def sync_mirror(repo: str, mirror: Path, timeout: float) -> tuple[str, set[str]]:
    """Clone or fetch the mirror; return its default branch and its branches."""
    if not (mirror / "HEAD").exists():
        staging = mirror.with_name(mirror.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)  # an interrupted clone: nothing else lives there
        staging.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--mirror", "--quiet", "--", repo, str(staging), timeout=timeout)
        staging.rename(mirror)
    else:
        git("remote", "update", cwd=mirror, timeout=timeout)  # no --prune: archived branches live here
    default = git("symbolic-ref", "--short", "HEAD", cwd=mirror).strip()
    heads = git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads", cwd=mirror).split()
    return default, set(heads)


def keep_branch(mirror: Path, msg: KeepBranch) -> None:
    """Archive: the task's branch, as its checkout has it, into the mirror (a checkout already gone
    means an earlier attempt kept the branch and removed it)."""
    if (msg.checkout / ".git").exists():
        ref = f"refs/heads/{msg.branch}"
        git("fetch", "--quiet", "--no-tags", "--", str(msg.checkout), f"+{ref}:{ref}", cwd=mirror)


def drop_branch(mirror: Path, msg: ReleaseBranch) -> None:
    """Kill: the task's branch leaves the mirror (deleting a ref that is not there is no error)."""
    git("update-ref", "-d", f"refs/heads/{msg.branch}", cwd=mirror)


def scan(host: str, data: Path, task_ids: list[str]) -> HostScanned:
    """Of a worker's tasks, those to activate (not at rest; or running with a live agent, whose stream
    it follows again) and those to revive (running, agent gone)."""
    live = agents.live_task_ids(data / "sandboxes")
    records = [read[0] for t in task_ids if (read := read_on_disk(task_db_path(data, t), 0, 0))]
    activate = [r["id"] for r in records if not settled(r) or r["id"] in live]
    revive = [r["id"] for r in records if agents.lost_agent(r, live)]
    return HostScanned(host=host, task_ids=activate, revive=revive)


class MirrorActor(OffloadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.start: StartMirror | None = None
        self.waiters: list[EnsureMirror] = []
        self.busy = False
        self.log: Any = logs.get()

    def receiveMsg_StartMirror(self, msg: StartMirror, sender: Address) -> None:
        s = msg.bind.settings
        logs.configure_actor(s)
        self.log = logs.get(
            actor="mirror", workspace=msg.project.workspace, project=msg.project.name, pid=os.getpid()
        )
        self.start = msg
        self.start_offload()
        if msg.scan:
            self.send(msg.bind.project_addr, scan(msg.bind.host, s.data_dir, msg.scan))
        if s.provider.value == "local":
            self._sync()

    def receiveMsg_ReadTask(self, msg: ReadTask, sender: Address) -> None:
        assert self.start
        path = task_db_path(self.start.bind.settings.data_dir, msg.task_id)
        read = read_on_disk(path, msg.after, msg.limit)
        if read is None:
            reply: TaskRead | Failure = Failure.task_not_found(msg.request_id, msg.task_id)
        else:
            reply = TaskRead(request_id=msg.request_id, record=read[0], events=read[1])
        self.send(msg.reply_to or sender, reply)

    def receiveMsg_EnsureMirror(self, msg: EnsureMirror, sender: Address) -> None:
        self.waiters.append(msg)
        if not self.busy:
            self._sync()

    def receiveMsg_KeepBranch(self, msg: KeepBranch, sender: Address) -> None:
        assert self.start
        self._branch_work(msg.reply_to, msg.task_id, msg.attempt, keep_branch, self.start.bind.mirror, msg)

    def receiveMsg_ReleaseBranch(self, msg: ReleaseBranch, sender: Address) -> None:
        assert self.start
        self._branch_work(msg.reply_to, msg.task_id, msg.attempt, drop_branch, self.start.bind.mirror, msg)

    def _branch_work(self, reply_to: Address, task_id: str, attempt: int, fn: Any, *args: Any) -> None:
        """On the worker, after any fetch already queued: one git writer for the mirror at a time."""
        assert self.offload

        def done(result: Any, error: BaseException | None) -> None:
            failed = str(error) if error else None
            self.send(reply_to, BranchDone(task_id=task_id, attempt=attempt, error=failed))

        self.offload.submit(done, fn, *args)

    def receiveMsg_ActorExitRequest(self, msg: Any, sender: Address) -> None:
        if self.offload:
            self.offload.close()

    def _sync(self) -> None:
        assert self.offload and self.start
        self.busy = True
        waiters, self.waiters = self.waiters, []
        repo, mirror = self.start.project.repo, self.start.bind.mirror
        timeout = self.start.bind.settings.git_timeout_s
        self.offload.submit(
            lambda result, error: self._synced(waiters, result, error), sync_mirror, repo, mirror, timeout
        )

    def _synced(self, waiters: list[EnsureMirror], result: Any, error: BaseException | None) -> None:
        assert self.start
        self.busy = False
        if error:
            self.log.warning("mirror.sync_failed", error=str(error), waiters=len(waiters))
        default, heads = result if result else (None, set())
        for ask in waiters:
            self.send(
                ask.reply_to,
                MirrorReady(
                    task_id=ask.task_id,
                    attempt=ask.attempt,
                    mirror=str(self.start.bind.mirror),
                    default_branch=default,
                    branch_exists=ask.branch in heads,
                    error=str(error) if error else None,
                ),
            )
        if self.waiters:  # they asked during that fetch: they get one that starts after they asked
            self._sync()
