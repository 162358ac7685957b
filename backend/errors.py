"""One error format for every failure: {"error": {"code", "message", "details"?}}, never a traceback."""

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
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
