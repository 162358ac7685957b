"""The task status enum, event kinds and the canonical provisioning steps, defined once."""

from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    """Every status of the original (Foundry) enum, in lifecycle order."""

    init_bootstrap_db = "init_bootstrap_db"
    init_enqueue_provision = "init_enqueue_provision"
    init_ensure_name = "init_ensure_name"
    init_assert_name = "init_assert_name"
    init_create_sandbox = "init_create_sandbox"
    init_ensure_agent = "init_ensure_agent"
    init_start_sandbox_instance = "init_start_sandbox_instance"
    init_create_session = "init_create_session"
    init_write_db = "init_write_db"
    init_start_status_sync = "init_start_status_sync"
    init_complete = "init_complete"
    running = "running"
    idle = "idle"
    archive_stop_status_sync = "archive_stop_status_sync"
    archive_release_sandbox = "archive_release_sandbox"
    archive_finalize = "archive_finalize"
    archived = "archived"
    kill_destroy_sandbox = "kill_destroy_sandbox"
    kill_finalize = "kill_finalize"
    killed = "killed"
    error = "error"


AT_REST: frozenset[TaskStatus] = frozenset(
    {TaskStatus.running, TaskStatus.idle, TaskStatus.error, TaskStatus.archived, TaskStatus.killed}
)

# Provisioning, in order: each step is entered with `task.status` and finished with its result event.
PROVISION_STEPS: tuple[TaskStatus, ...] = (
    TaskStatus.init_ensure_name,
    TaskStatus.init_create_sandbox,
    TaskStatus.init_ensure_agent,
    TaskStatus.init_create_session,
    TaskStatus.running,
)


class EventKind(StrEnum):
    created = "task.created"
    status = "task.status"
    named = "task.named"
    sandbox = "task.sandbox"
    agent = "task.agent"
    session = "task.session"
    initialized = "task.initialized"
    retry = "task.retry"
    error = "task.error"
    archive = "task.archive"
    kill = "task.kill"
    # After running: the agent's conversation (actors/task/conversation.py).
    session_update = "session.update"
    session_prompt = "session.prompt"


RESULT_EVENT: dict[TaskStatus, EventKind] = {
    TaskStatus.init_ensure_name: EventKind.named,
    TaskStatus.init_create_sandbox: EventKind.sandbox,
    TaskStatus.init_ensure_agent: EventKind.agent,
    TaskStatus.init_create_session: EventKind.session,
    TaskStatus.running: EventKind.initialized,
    TaskStatus.archived: EventKind.archive,
    TaskStatus.killed: EventKind.kill,
}

# Archive and kill replace whatever provisioning had left to do; each ends in its status at rest.
# A running task whose agent died (found at start-up) gets them back through the same steps.
REVIVE_STEPS: tuple[TaskStatus, ...] = (
    TaskStatus.init_ensure_agent,
    TaskStatus.init_create_session,
    TaskStatus.running,
)
ARCHIVE_STEPS: tuple[TaskStatus, ...] = (
    TaskStatus.archive_release_sandbox,
    TaskStatus.archive_finalize,
    TaskStatus.archived,
)
KILL_STEPS: tuple[TaskStatus, ...] = (
    TaskStatus.kill_destroy_sandbox,
    TaskStatus.kill_finalize,
    TaskStatus.killed,
)
DELETABLE: frozenset[TaskStatus] = frozenset({TaskStatus.archived, TaskStatus.killed})

STATUS_MESSAGE: dict[TaskStatus, str] = {
    TaskStatus.init_enqueue_provision: "provision queued",
    TaskStatus.init_ensure_name: "determining title and branch",
    TaskStatus.init_create_sandbox: "creating sandbox",
    TaskStatus.init_ensure_agent: "ensuring sandbox agent",
    TaskStatus.init_create_session: "creating agent session",
    TaskStatus.running: "task initialized",
    TaskStatus.archive_release_sandbox: "keeping the branch, releasing the sandbox",
    TaskStatus.archive_finalize: "finalizing the archive",
    TaskStatus.archived: "archived",
    TaskStatus.kill_destroy_sandbox: "stopping the agent, removing the checkout",
    TaskStatus.kill_finalize: "releasing the branch",
    TaskStatus.killed: "killed",
}


class AgentKind(StrEnum):
    mock = "mock"
    claude = "claude"
    codex = "codex"
    opencode = "opencode"
    amp = "amp"
    pi = "pi"
    cursor = "cursor"


class ProviderKind(StrEnum):
    local = "local"
    sim = "sim"


def settled(record: dict[str, Any]) -> bool:
    """At rest for good: `running` is entered before its step is done (docs/design.md, "Events"), so a
    status at rest counts only once no step is left (an `error` waits for a user)."""
    left = any(s["status"] not in ("done", "cancelled") for s in record["steps"])
    return record["status"] in AT_REST and (record["status"] == TaskStatus.error or not left)
