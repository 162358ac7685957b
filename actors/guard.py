"""A handler that raises still answers its request, at once.

Raised to thespian, the message would be retried, then dropped: the client would wait for the ask
timeout and get a 503 saying the actors did not answer. A full disk is told as such (507); anything
else is a bug, logged with its traceback, and the client gets a 500 without it.
"""

import errno
import sqlite3
from typing import Any

from thespian.actors import ActorTypeDispatcher

from actors import logs
from schemas.messages import Address, Failure, Request


class GuardedActor(ActorTypeDispatcher):  # type: ignore[misc]
    def receiveMessage(self, msg: Any, sender: Address) -> Any:
        try:
            return super().receiveMessage(msg, sender)
        except Exception as exc:
            self.handler_failed(msg, sender, exc)
            return None

    def handler_failed(self, msg: Any, sender: Address, exc: Exception) -> None:
        """Logged, and a request answered; an actor whose state the failure may have left half made
        extends this to mend it."""
        logs.get().exception("actor.handler_failed", message=type(msg).__name__)
        if isinstance(msg, Request):
            self.send(msg.reply_to or sender, failure(msg.request_id, exc))


def failure(request_id: str, exc: Exception) -> Failure:
    if disk_full(exc):
        return Failure(
            request_id=request_id, status=507, code="disk_full", message="the data directory's disk is full"
        )
    return Failure(request_id=request_id, status=500, code="internal_error", message="the actor failed")


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
