"""docs/design.md, "Routes", as OpenAPI 3.1 operations, one by one, with the parameters and error statuses
each can give (backend/openapi.py assembles them into the document)."""

from typing import Any

from schemas import api

JSON = "application/json"
Object = dict[str, Any]

# Why each error status can happen; an operation lists the ones it can give.
BODY_ERRORS = {
    400: "the body is not valid JSON",
    413: "the body is larger than 1 MiB",
    415: "the body is not `application/json`",
    422: "the body does not match the schema (`details`: pydantic's errors)",
}
WRITE_ERRORS = {
    500: "an actor failed (a bug, logged with its traceback; the answer carries none)",
    503: "the server is starting or draining, or the actors did not answer in time",
    507: "the data directory's disk is full (`disk_full`); retry once there is room",
}
UNAUTHORIZED = "no bearer token, or the wrong one (`WWW-Authenticate: Bearer`)"
# Any operation can give these (backend/guards.py; docs/security.md).
GUARD_ERRORS = {
    403: "`origin_not_allowed`: the request carries an `Origin` that is neither the server's own nor "
    "listed in CRUCIBLE_ALLOWED_ORIGINS (a page of another site)",
    421: "`host_not_allowed`: the `Host` header names no host this server answers for (loopback, the "
    "listen address, CRUCIBLE_ALLOWED_HOSTS): a DNS-rebinding page, or a name to list",
}
NO_WORKSPACE = "no such workspace"
NO_TASK = "no such task (anything not shaped like a task id is unknown too)"


def _ref(kind: str, name: str) -> Object:
    return {"$ref": f"#/components/{kind}/{name}"}


def _response(description: str, content: Object | None = None, **headers: Object) -> Object:
    """Every response carries X-Request-Id; `content` maps a media type to its schema."""
    response: Object = {
        "description": description,
        "headers": {"X-Request-Id": _ref("headers", "X-Request-Id"), **headers},
    }
    if content:
        response["content"] = {media: {"schema": schema} for media, schema in content.items()}
    return response


def _json(model: str, description: str, **headers: Object) -> Object:
    return _response(description, {JSON: _ref("schemas", model)}, **headers)


def error(description: str, status: int) -> Object:
    extra = {}
    if status == 503:
        extra["Retry-After"] = _ref("headers", "Retry-After")
    if status == 401:
        extra["WWW-Authenticate"] = _ref("headers", "WWW-Authenticate")
    return _json("ErrorResponse", description, **extra)


def param(where: str, name: str, description: str, schema: Object, **more: Any) -> Object:
    """A parameter; the handlers read an empty query value as an absent one, and the document says so."""
    if where == "query":
        more = {"allowEmptyValue": True, **more}
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
        **more,
    }


NAME = {"type": "string", "pattern": api.NAME_PATTERN}
SEQ = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}  # SQLite's INTEGER
WS = param("path", "ws", "workspace name", NAME)
PROJECT = param("path", "project", "project name", NAME)
TASK_ID = param(
    "path", "task_id", "task id (22 hex digits)", {"type": "string", "pattern": api.TASK_ID_PATTERN}
)
LIMIT = param(
    "query",
    "limit",
    "page size; above 1000 is clamped to 1000",
    {"type": "integer", "minimum": 1, "default": 100},
)


def _op(
    op_id: str,
    summary: str,
    ok: dict[int, Object],
    errors: dict[int, str] | None = None,
    params: tuple[Object, ...] = (),
    body: str | None = None,
    guarded: bool = True,
) -> Object:
    op: Object = {
        "operationId": op_id,
        "summary": summary,
        "parameters": [*params, _ref("parameters", "X-Request-Id")],
        "responses": {str(k): v for k, v in ok.items()},
        "x-guarded": guarded,  # needs the bearer token when the server has one (resolved in build())
    }
    op["responses"].update({str(k): error(v, k) for k, v in {**(errors or {}), **GUARD_ERRORS}.items()})
    if body:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref("schemas", body)}}}
    return op


def _websocket(
    op_id: str, summary: str, frames: str, errors: dict[int, str], params: tuple[Object, ...]
) -> Object:
    switching = {
        "description": f"the websocket handshake; each frame is then one JSON `{frames}` "
        "(heartbeats are websocket ping/pong). A plain GET without the upgrade headers gets 400. "
        "(The handshake's headers are sent before X-Request-Id can be added.)"
    }
    token = param(
        "query",
        "token",
        "the bearer token, for browsers, which cannot set headers on a "
        "websocket (only when the server has CRUCIBLE_TOKEN)",
        {"type": "string"},
    )
    errors = {400: "not a websocket handshake", **errors}
    return _op(op_id, summary, {101: switching}, errors, (*params, token))


def paths() -> dict[str, Object]:
    """docs/design.md, "Routes", operation by operation."""
    task_created = {"Location": _ref("headers", "Location")}
    create_errors = {
        **BODY_ERRORS,
        404: "no such workspace or project",
        409: "the Idempotency-Key was used with another body, or the branch is taken",
        **WRITE_ERRORS,
    }
    action_errors = {
        404: NO_TASK,
        409: "the task's status does not allow it (`details.status`)",
        **WRITE_ERRORS,
    }
    idempotency = param(
        "header",
        "Idempotency-Key",
        "same key (per project, kept 24 h) and same body: 200 with the same task; another body: 409",
        {"type": "string", "minLength": 1, "maxLength": 200},
    )
    statuses = param(
        "query",
        "status",
        "only tasks in one of these statuses (comma-separated)",
        {"type": "array", "items": _ref("schemas", "TaskStatus")},
        style="form",
        explode=False,
    )
    task_ops = {
        f"/v1/tasks/{{task_id}}/{action}": {
            "post": _op(
                f"{action}Task",
                summary,
                {202: _json("TaskRecord", "accepted; the task's record")},
                action_errors,
                (TASK_ID,),
            )
        }
        for action, summary in (
            ("archive", "Archive a task: agent stopped, branch kept in the mirror, checkout removed"),
            ("kill", "Kill a task: agent, checkout, branch and reservation gone"),
            ("retry", "Retry a task in error from its failed step"),
        )
    }
    return {
        "/v1/health": {
            "get": _op(
                "health",
                "Readiness: 200 once every unfinished task is resumed, 503 while starting or draining",
                {200: _json("Health", "ready"), 503: _json("Health", "starting or draining")},
                guarded=False,
            )
        },
        "/v1/openapi.json": {
            "get": _op(
                "openapi",
                "This document",
                {200: _response("OpenAPI 3.1", {JSON: {"type": "object"}})},
                guarded=False,
            )
        },
        "/": {
            "get": _op(
                "dashboard",
                "The dashboard (HTML); it asks for the token when the API answers 401",
                {200: _response("the page", {"text/html": {"type": "string"}})},
                guarded=False,
            )
        },
        "/static/{name}": {
            "get": _op(
                "dashboardFile",
                "A file of the dashboard (script, style)",
                {200: _response("the file", {"text/plain": {"type": "string"}})},
                {404: "no such file"},
                (param("path", "name", "a file the dashboard ships", {"type": "string"}, required=True),),
                guarded=False,
            )
        },
        "/v1/hosts": {
            "get": _op(
                "listHosts",
                "The leader and the workers of its convention, up or gone, with their load",
                {200: _json("HostList", "every host that ever joined since the leader started")},
            )
        },
        "/metrics": {
            "get": _op(
                "metrics",
                "Prometheus metrics",
                {200: _response("Prometheus text format", {"text/plain": {"type": "string"}})},
            )
        },
        "/v1/workspaces": {
            "get": _op("listWorkspaces", "List workspaces", {200: _json("WorkspaceList", "every workspace")}),
            "post": _op(
                "createWorkspace",
                "Create a workspace",
                {201: _json("Workspace", "created")},
                {
                    **BODY_ERRORS,
                    409: "the workspace exists (`workspace_exists`), or the server holds as many as "
                    "CRUCIBLE_MAX_WORKSPACES allows (`workspace_limit`, `details.limit`)",
                    **WRITE_ERRORS,
                },
                body="WorkspaceCreate",
            ),
        },
        "/v1/workspaces/{ws}/projects": {
            "get": _op(
                "listProjects",
                "List a workspace's projects",
                {200: _json("ProjectList", "every project of the workspace")},
                {404: NO_WORKSPACE},
                (WS,),
            ),
            "post": _op(
                "registerProject",
                "Register a project: `repo` is a local path or an https, ssh or file URL (`git ls-remote`)",
                {201: _json("Project", "registered")},
                {
                    **BODY_ERRORS,
                    404: NO_WORKSPACE,
                    409: "the project exists",
                    422: "the body does not match the schema, or `repo` is refused (an option, `ext::`, a "
                    "control character) or not a reachable git repository",
                    **WRITE_ERRORS,
                },
                (WS,),
                body="ProjectCreate",
            ),
        },
        "/v1/workspaces/{ws}/projects/{project}": {
            "get": _op(
                "getProject",
                "A project",
                {200: _json("Project", "the project")},
                {404: "no such workspace or project"},
                (WS, PROJECT),
            )
        },
        "/v1/workspaces/{ws}/projects/{project}/tasks": {
            "post": _op(
                "createTask",
                "Create a task: answers at once with its durable record; it provisions in the background",
                {
                    201: _json("TaskRecord", "created (status `init_*`)", **task_created),
                    200: _json("TaskRecord", "the task this Idempotency-Key created", **task_created),
                },
                {**create_errors, 422: BODY_ERRORS[422] + ", or a bad Idempotency-Key"},
                (WS, PROJECT, idempotency),
                body="TaskCreate",
            )
        },
        "/v1/workspaces/{ws}/tasks": {
            "get": _op(
                "listTasks",
                "List a workspace's tasks, newest first",
                {200: _json("TaskList", "a page; `next_cursor` is null on the last")},
                {404: NO_WORKSPACE, 422: "a query parameter is invalid (`details.parameter`)"},
                (
                    WS,
                    param("query", "project", "only this project's tasks", NAME),
                    statuses,
                    LIMIT,
                    param(
                        "query",
                        "cursor",
                        "the `next_cursor` of the previous page",
                        {"type": "string", "pattern": api.TASK_ID_PATTERN},
                    ),
                ),
            )
        },
        "/v1/tasks/{task_id}/messages": {
            "post": _op(
                "sayToTask",
                "Send a running or idle task's agent a follow-up prompt: answered once it is durable",
                {
                    202: _json("MessageAccepted", "durable; sent to the agent at most once, after"),
                    200: _json("MessageAccepted", "the message this Idempotency-Key made"),
                },
                {
                    **BODY_ERRORS,
                    404: NO_TASK,
                    409: "the task is not running or idle (`details.status`), or the Idempotency-Key "
                    "was used with another text",
                    **WRITE_ERRORS,
                    422: BODY_ERRORS[422] + ", or a bad Idempotency-Key",
                },
                (TASK_ID, idempotency),
                body="MessageCreate",
            )
        },
        "/v1/tasks/{task_id}": {
            "get": _op(
                "getTask",
                "A task's record",
                {200: _json("TaskRecord", "the record")},
                {404: NO_TASK},
                (TASK_ID,),
            ),
            "delete": _op(
                "deleteTask",
                "Delete an archived or killed task's database and logs",
                {204: _response("deleted")},
                action_errors,
                (TASK_ID,),
            ),
        },
        "/v1/tasks/{task_id}/history": {
            "get": _op(
                "taskHistory",
                "A task's events in seq order",
                {200: _json("History", "the events after `after`")},
                {404: NO_TASK, 422: "a query parameter is invalid (`details.parameter`)"},
                (
                    TASK_ID,
                    param(
                        "query",
                        "after",
                        "only events with a greater seq",
                        {**SEQ, "default": 0},
                    ),
                    LIMIT,
                ),
            )
        },
        **task_ops,
        "/v1/tasks/{task_id}/events": {
            "get": _websocket(
                "taskEvents",
                "Websocket: a task's events with seq > `since`, then live; in order, no gap, no duplicate",
                "Event",
                {404: NO_TASK, 422: "`since` is not a whole number of at most 64 bits"},
                (
                    TASK_ID,
                    param(
                        "query",
                        "since",
                        "replay events after this seq first; absent: live only",
                        SEQ,
                    ),
                ),
            )
        },
        "/v1/workspaces/{ws}/events": {
            "get": _websocket(
                "workspaceEvents",
                "Websocket: the latest summary of every task changed after cursor `since`, and every "
                "deletion, then live",
                "FeedFrame",
                {404: NO_WORKSPACE},
                (
                    WS,
                    param(
                        "query",
                        "since",
                        "a `cursor` of an earlier frame; anything else, or a cursor "
                        "ahead of the feed, gets `resync` and then a full snapshot",
                        {"type": "string"},
                    ),
                ),
            )
        },
    }
