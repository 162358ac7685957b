"""Base shapes shared by every actor message: requests carry an id that their reply echoes."""

from typing import Any

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    # Actor addresses travel inside messages; they are opaque, picklable thespian objects.
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)


class Request(Message):
    request_id: str
    reply_to: Any = None  # where the reply goes when the request is forwarded (the bridge's endpoint)


class Reply(Message):
    request_id: str


class Failure(Reply):
    """A refused request: the bridge turns it into an HTTP error as is."""

    status: int
    code: str
    message: str
    details: Any = None
