"""The provider work of a task's steps, run off the runner's mailbox (actors/runtime/work.py): each
returns the step's result, or raises. The step machine that runs them is actors/task/actor.py."""

import json
from typing import Any

from actors.providers.base import Provider, TaskContext
from actors.runtime.work import call
from actors.task import conversation
from actors.task.store import TaskStore
from schemas.status import TaskStatus
from schemas.task_messages import Bind


def context(store: TaskStore, bound: Bind, task_id: str) -> TaskContext:
    """What a provider call knows of the task: its record, and what earlier steps found."""
    record = store.record()
    named = store.step(TaskStatus.init_ensure_name)
    agent = store.step(TaskStatus.init_ensure_agent)
    return TaskContext(
        task_id=task_id,
        workspace=bound.workspace,
        project=bound.project,
        branch=record["branch"],
        prompt=record["prompt"],
        agent=record["agent"],
        data=bound.settings.data_dir,
        mirror=bound.mirror,
        settings=bound.settings,
        branch_exists=bool(named["result"] and json.loads(named["result"]).get("existing")),
        sandbox=record["sandbox"],
        agent_info=json.loads(agent["result"]) if agent["result"] else None,
        session_id=record["session_id"],
    )


async def named(provider: Provider, store: TaskStore, ctx: TaskContext) -> dict[str, Any]:
    await call(provider.ensure_name, ctx)
    record = store.record()
    return {"title": record["title"], "branch": record["branch"], "existing": False, "base": None}


async def destroyed(provider: Provider, ctx: TaskContext) -> dict[str, Any]:
    await call(provider.destroy, ctx)
    return {}


async def prompted(provider: Provider, store: TaskStore, ctx: TaskContext) -> dict[str, Any]:
    """The session, then the prompt, at most once: its send is recorded before it is made, and never
    repeated."""
    session_id = await call(provider.open_session, ctx)
    if store.prompt_sent_at() is None:
        store.mark_prompt_sent()
        await call(provider.send_prompt, ctx, session_id)
    return {"session_id": session_id}


class AgentGone(Exception):
    """The agent does not answer: a follow-up is not spent on it (the task actor revives it first)."""


async def told(provider: Provider, store: TaskStore, message_id: str, text: str, ctx: TaskContext) -> None:
    """A follow-up to a live agent, marked sent before it goes: at most once, across any crash."""
    health = await call(provider.health, ctx)
    if health.get("status") != "healthy":
        raise AgentGone(health.get("message", ""))
    conversation.mark_sent(store, message_id)
    await call(provider.send_message, ctx, store.record()["session_id"], message_id, text)
