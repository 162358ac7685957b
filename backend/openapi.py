"""GET /v1/openapi.json: docs/design.md, "HTTP API", as OpenAPI 3.1, built from the pydantic models.

The component schemas come from the models the handlers validate with and answer from, so the document
cannot describe a body the code no longer has; the operations (backend/openapi_paths.py) are the route
table, and a unit test fails if the app registers a route they leave out (or they name one it does not
serve). The fuzz test (tests/integration/test_fuzz.py) then holds the running server to it: every status
code documented, every body and header as described.
"""

import functools
from importlib.metadata import version

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from backend.openapi_paths import UNAUTHORIZED, Object, error, param, paths
from backend.routes import RUNTIME
from schemas import api

REQUESTS: tuple[type[BaseModel], ...] = (
    api.WorkspaceCreate,
    api.ProjectCreate,
    api.TaskCreate,
    api.MessageCreate,
)
RESPONSES: tuple[type[BaseModel], ...] = (
    api.Health,
    api.Workspace,
    api.WorkspaceList,
    api.Project,
    api.ProjectList,
    api.TaskRecord,
    api.TaskList,
    api.HostList,
    api.History,
    api.Event,
    api.FeedFrame,
    api.ErrorResponse,
    api.MessageAccepted,
)


def components() -> Object:
    """The models' JSON schemas (2020-12, OpenAPI 3.1's dialect), referenced as #/components/schemas/."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in REQUESTS]
    models += [(m, "serialization") for m in RESPONSES]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return dict(top["$defs"])


_TASK = {"task_id": "$response.body#/id"}
_TASK_OPS = ("getTask", "taskHistory", "archiveTask", "killTask", "retryTask", "deleteTask", "taskEvents")
_TO_TASK = {op: (op, _TASK) for op in _TASK_OPS}
_WS = {"ws": "$response.body#/name"}
_PROJECT = {"ws": "$request.path.ws", "project": "$response.body#/name"}
# Where a response's values lead (OpenAPI links): for generated clients, and for the fuzz test's stateful
# phase, which follows them from a created workspace to its projects, from a registered project to its
# tasks, and from a task (created, read, or just acted on) to its record, history, events and
# every action: so a chain reaches the states an action needs (a kill, then a delete).
LINKS: dict[tuple[str, str], dict[str, tuple[str, Object]]] = {
    ("createWorkspace", "201"): {
        op: (op, _WS) for op in ("listProjects", "registerProject", "listTasks", "workspaceEvents")
    },
    ("registerProject", "201"): {op: (op, _PROJECT) for op in ("getProject", "createTask", "listTasks")},
    ("createTask", "201"): _TO_TASK,
    ("createTask", "200"): _TO_TASK,
    ("getTask", "200"): _TO_TASK,
    **{(f"{action}Task", "202"): _TO_TASK for action in ("archive", "kill", "retry")},
    ("listTasks", "200"): {
        "nextPage": ("listTasks", {"ws": "$request.path.ws", "cursor": "$response.body#/next_cursor"})
    },
}


def _link(spec_paths: dict[str, Object]) -> None:
    for item in spec_paths.values():
        for op in item.values():
            for status, response in op["responses"].items():
                links = LINKS.get((op["operationId"], status), {})
                if links:
                    response["links"] = {
                        name: {"operationId": target, "parameters": params}
                        for name, (target, params) in links.items()
                    }


def _headers() -> Object:
    def header(description: str) -> Object:
        return {"description": description, "required": True, "schema": {"type": "string"}}

    return {
        "X-Request-Id": header(
            "the request's X-Request-Id if it sent one (first 128 characters), else a new id"
        ),
        "Location": header("the task's URL, `/v1/tasks/{id}`"),
        "Retry-After": header("seconds to wait before trying again"),
        "WWW-Authenticate": header("`Bearer`"),
    }


@functools.cache
def build(auth: bool) -> Object:
    """The document. With `auth` (CRUCIBLE_TOKEN set) every guarded operation requires the bearer token
    and documents its 401; without, nothing mentions security, since none applies."""
    spec_paths = paths()
    _link(spec_paths)
    for item in spec_paths.values():
        for op in item.values():
            guarded = op.pop("x-guarded")
            if not auth:
                op["parameters"] = [p for p in op["parameters"] if p.get("name") != "token"]
            elif guarded:
                op["responses"]["401"] = error(UNAUTHORIZED, 401)
            else:
                op["security"] = []
    request_id = param(
        "header",
        "X-Request-Id",
        "echoed in the response's X-Request-Id and bound into the logs; a new id when absent",
        {"type": "string"},
    )
    doc: Object = {
        "openapi": "3.1.0",
        "info": {
            "title": "Crucible",
            "version": version("crucible"),
            "description": "Creates and provisions coding-agent tasks durably. Errors are "
            '`{"error": {"code", "message", "details"?}}` with a stable snake_case `code`.',
        },
        "paths": spec_paths,
        "components": {
            "schemas": components(),
            "parameters": {"X-Request-Id": request_id},
            "headers": _headers(),
        },
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


openapi_routes = web.RouteTableDef()


@openapi_routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build(request.app[RUNTIME].settings.token is not None))
