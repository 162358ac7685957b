"""One error format for every failure: {"error": {"code", "message", "details"?}}, never a traceback."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from backend.bridge import BridgeError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = (
            status,
            code,
            message,
            details,
            headers,
        )


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return web.json_response({"error": body}, status=status, headers=headers)


def validation_error(exc: ValidationError) -> ApiError:
    details = exc.errors(include_url=False, include_context=False, include_input=False)
    return ApiError(422, "validation_error", "the request does not match the schema", details)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except ValidationError as exc:
        err = validation_error(exc)
        return error_response(err.status, err.code, err.message, err.details)
    except BridgeError as exc:
        structlog.get_logger().warning("bridge.error", error=str(exc))
        return error_response(503, "actors_unavailable", str(exc), headers={"Retry-After": "1"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(
            exc.status,
            code,
            exc.reason,
            headers={"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None,
        )
    except Exception:
        structlog.get_logger().exception("request.failed", path=request.path)
        return error_response(500, "internal_error", "an internal error occurred; see the server log")


class ClientErrorsAsWarnings(logging.Filter):
    """aiohttp logs a request it cannot parse (a NUL byte in a header, a line too long) at error level,
    with a traceback, though it answers 400 and nothing failed here: such a record is a client's mistake,
    so it goes out as a warning, and an error in the log still means the server failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 500) < 500:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Once per process: aiohttp's server logger gets the filter above."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorsAsWarnings) for f in server.filters):
        server.addFilter(ClientErrorsAsWarnings())
