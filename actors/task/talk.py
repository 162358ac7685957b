"""The conversation after `running`, as the task actor (actor.py) holds it between messages: the agent's
ACP stream it follows, recording each burst it reads as `session.update` events in one transaction,
and the follow-up prompts it sends in turn, each at most once. What is written is conversation.py's.

A part of its actor, not an actor: it runs inside the actor's message handlers and uses the actor's
store, provider and mailbox, so the actor stays its task's only writer.
"""

from functools import partial
from typing import TYPE_CHECKING, Any

from actors.offload import Offloader
from actors.providers.base import Stream
from actors.task import conversation, steps
from actors.task.wakeups import FollowDue
from schemas.api import MAX_MESSAGE_CHARS
from schemas.messages import Address, Failure
from schemas.status import TaskStatus
from schemas.task_messages import MessageAccepted, TaskCommand

if TYPE_CHECKING:
    from actors.task.actor import TaskActor

FOLLOW_TRIES = 4  # a stream that ends or fails this often in a row is left until the next activation


class Talk:
    def __init__(self, actor: "TaskActor", listening: Offloader) -> None:
        self.actor = actor
        self.listening = listening  # the stream's reads: apart from the steps' work
        self.stream: Stream | None = None  # the agent's ACP stream, followed while the task runs
        self.heard_run = 0  # the agent run the stream is of
        self.deaf = 0  # reads of the stream that failed in a row (see heard)
        self.sending = False  # a follow-up prompt is on its way to the agent

    def follow(self) -> bool:
        """Follow the agent's stream from after the last event recorded of its current run; False if
        there is none to follow (a sim task, an agent whose stream keeps failing)."""
        a = self.actor
        assert a.store and a.bound and a.provider and a.task_id
        if self.stream is not None:
            return True
        if not a.provider.converses or self.deaf > FOLLOW_TRIES:
            return False
        if a.store.record()["status"] != TaskStatus.running:
            return False
        ctx = steps.context(a.store, a.bound, a.task_id)
        if ctx.agent_info is None:
            return False
        self.heard_run = conversation.agent_run(a.store)
        self.stream = a.provider.conversation(ctx, conversation.last_heard(a.store, self.heard_run))
        self.listening.submit(partial(self.heard, self.stream), self.stream.burst)
        return True

    def heard(self, stream: Stream, burst: list[tuple[int, Any]] | None, error: BaseException | None) -> None:
        """A burst of the agent's messages, recorded in one transaction, then the next read. The stream
        ended or failed (the agent stopped, or restarted): looked at again after a backoff, a few times;
        then the actor passivates as any at rest, and its next activation follows again."""
        a = self.actor
        if stream is not self.stream or a.store is None:
            return  # stopped following since
        if burst:
            self.deaf = 0
            conversation.record_heard(a.store, self.heard_run, burst)
            if a.news:  # its last activity, in the workspace's list and feed
                a.news.changed = a.news.talking = True
            self.listening.submit(partial(self.heard, stream), stream.burst)
            return
        a.log.info("session.stream_ended", error=str(error) if error else None)
        self.stop()
        self.deaf += 1
        a.after(min(30, 2**self.deaf), FollowDue(a.run))

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close_soon()
            self.stream = None

    def say(self, msg: TaskCommand, reply_to: Address) -> None:
        """A follow-up: durable with its event before the answer, then sent in turn (send_next)."""
        a = self.actor
        assert a.store and a.task_id
        if not 0 < len(msg.text or "") <= MAX_MESSAGE_CHARS:
            invalid = f"the text must be 1 to {MAX_MESSAGE_CHARS} characters"
            a.send(
                reply_to,
                Failure(request_id=msg.request_id, status=422, code="validation_error", message=invalid),
            )
            return
        try:
            message_id, created = conversation.add_prompt(a.store, msg.text or "", msg.idempotency_key)
        except conversation.Conflict as conflict:
            refused = Failure(
                request_id=msg.request_id,
                status=409,
                code="idempotency_conflict",
                message="this Idempotency-Key was used with another text",
                details={"message_id": conflict.message_id},
            )
            a.send(reply_to, refused)
            return
        if a.news:
            a.news.changed = True
        accepted = MessageAccepted(
            request_id=msg.request_id, task_id=a.task_id, message_id=message_id, created=created
        )
        a.send(reply_to, accepted)
        self.send_next()

    def send_next(self) -> None:
        """The oldest prompt not yet sent, once the agent is seen alive: marked sent first, so that no
        crash sends it twice. An agent found gone is revived first (its prompts go once it runs)."""
        a = self.actor
        assert a.store and a.bound and a.provider and a.offload and a.task_id
        if self.sending or a.store.record()["status"] != TaskStatus.running:
            return
        waiting = conversation.unsent(a.store)
        if not waiting:
            return
        if a.at_crash_point("say:before_send"):  # committed and answered, not yet marked sent
            return
        self.sending = True
        ctx = steps.context(a.store, a.bound, a.task_id)
        work = partial(steps.told, a.provider, a.store, *waiting[0])
        a.offload.submit(self.told, work, ctx)

    def told(self, result: Any, error: BaseException | None) -> None:
        a = self.actor
        self.sending = False
        if a.store is None:
            return
        if isinstance(error, steps.AgentGone):
            a.log.warning("session.agent_gone")
            a.revive()
        else:
            if error is not None:  # marked sent, so never again: at most once
                a.log.warning("session.prompt_failed", error=str(error))
            self.send_next()
