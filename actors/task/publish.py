"""Publishing what a task actor committed, once per handled message: its events to the event hub (or,
on a worker, through its project) and to admins following it; its summary to the workspace's projection,
coalesced while the task moves."""

import time
from collections.abc import Callable
from typing import Any

from actors.observe import Observer
from actors.push import Pusher
from actors.task.reads import summary_from_record
from actors.task.store import TaskStore
from schemas.api import TaskSummary
from schemas.messages import Address
from schemas.status import AT_REST, TaskStatus
from schemas.task_messages import Bind, TaskEvents
from schemas.workspace_messages import TaskChanged

PROJECTION_GAP_S = 0.1  # a task's summary reaches the workspace at most this often while it moves


class Publisher:
    def __init__(self, bound: Bind, send: Callable[[Any, Any], None]) -> None:
        self.bound, self.send = bound, send
        self.pusher = Pusher.shared(bound.settings.hub_socket) if bound.relay is None else None
        self.observer = Observer("task")
        self.followers: list[Address] = []  # admin endpoints following the history live (not hashable)
        self.changed = False  # committed, not yet told to the workspace
        self.talking = False  # what changed is the conversation: coalesced even at rest
        self.projected_at = 0.0  # monotonic time of the last summary sent to the workspace

    def flush(self, store: TaskStore, task_id: str) -> float:
        """Once a message is handled: what it committed goes out once, however many transactions it
        took (a step's result and the next step's start): its events in one push, the latest summary in
        one tell. Returns the seconds until the summary may go, if it must wait (see project)."""
        events = store.take_events()
        if events:
            news = TaskEvents(task_id=task_id, events=events, observed=self.observer.take())
            if self.pusher is not None:
                self.pusher.push(news)
            elif self.bound.relay is not None:  # on a worker: the hub is on the leader
                self.send(self.bound.relay, news)
            for follower in self.followers:
                self.send(follower, news)
        return self.project(store, at_once=False) if self.changed else 0.0

    def project(self, store: TaskStore, at_once: bool) -> float:
        """The latest summary to the workspace's projection: at once at rest, or after a quiet spell;
        otherwise (and for the conversation, a burst per token or so) once PROJECTION_GAP_S has passed
        (returned: the caller wakes then), with whatever changed meanwhile (a message per step cost the
        workspace more than steps of a few ms). The hub's events stay immediate, and a summary lost to
        a crash is sent again when the task resumes (it publishes on activation)."""
        if not self.changed:
            return 0.0
        record = store.record()
        wait = self.projected_at + PROJECTION_GAP_S - time.monotonic()
        if wait > 0 and not at_once and (self.talking or TaskStatus(record["status"]) not in AT_REST):
            return wait
        self.changed, self.talking, self.projected_at = False, False, time.monotonic()
        summary = self.summary(record)
        self.send(self.bound.workspace_addr, TaskChanged(summary=summary, workspace=self.bound.workspace))
        return 0.0

    def summary(self, record: dict[str, Any]) -> TaskSummary:
        return TaskSummary.model_validate({**summary_from_record(record), "host": self.bound.host})
