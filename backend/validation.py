"""Request parsing: JSON bodies into pydantic models, query parameters, git's branch-name rules."""

import json
import re
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from backend.errors import ApiError, validation_error
from schemas.api import NAME_PATTERN, TASK_ID_PATTERN
from schemas.status import TaskStatus

M = TypeVar("M", bound=BaseModel)
INT64_MAX = 2**63 - 1  # SQLite's largest INTEGER: a larger bound would overflow the query
_TASK_ID = re.compile(TASK_ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)


async def json_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "body_too_large", "the body is larger than 1 MiB") from exc
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not
        raise ApiError(400, "bad_request", f"the body cannot be read: {exc}") from exc
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def int_param(request: web.Request, name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter; values above `high` are clamped, malformed ones (and any beyond what
    SQLite can compare with) refused."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer", {"parameter": name}) from None
    if value < low:
        raise ApiError(422, "invalid_parameter", f"{name} must be at least {low}", {"parameter": name})
    if high is not None:
        return min(value, high)
    if value > INT64_MAX:
        raise ApiError(422, "invalid_parameter", f"{name} must be at most {INT64_MAX}", {"parameter": name})
    return value


def statuses_param(request: web.Request) -> list[str]:
    raw = request.query.get("status", "")
    statuses = [s for s in raw.split(",") if s]
    unknown = [s for s in statuses if s not in TaskStatus.__members__]
    if unknown:
        raise ApiError(
            422, "invalid_parameter", f"unknown status: {', '.join(unknown)}", {"parameter": "status"}
        )
    return statuses


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID.fullmatch(value))  # fullmatch: `$` alone lets a trailing newline through


def is_name(value: str) -> bool:
    return bool(_NAME.fullmatch(value))
