"""HTTP handlers: parse, ask or read, answer. Thin by design; the actors hold the behaviour."""

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from backend import repos
from backend.errors import ApiError
from backend.runtime import Runtime
from backend.validation import int_param, is_name, is_task_id, json_body, statuses_param
from schemas.api import HostList, MessageCreate, ProjectCreate, TaskCreate, WorkspaceCreate
from schemas.messages import Reply
from schemas.task_messages import MessageAccepted, TaskAction, TaskCommand
from schemas.workspace_messages import CreateTask, ProjectRegistered, RegisterProject, TaskCreated

RUNTIME = web.AppKey("runtime", Runtime)
routes = web.RouteTableDef()


def _rt(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    state = _rt(request).health
    return web.json_response({"status": state}, status=200 if state == "ok" else 503)


@routes.get("/v1/hosts")
async def list_hosts(request: web.Request) -> web.Response:
    return web.json_response(HostList(hosts=await _rt(request).hosts()).model_dump(mode="json"))


@routes.get("/v1/workspaces")
async def list_workspaces(request: web.Request) -> web.Response:
    return web.json_response({"workspaces": await _rt(request).reader.workspaces()})


@routes.post("/v1/workspaces")
async def create_workspace(request: web.Request) -> web.Response:
    body = await json_body(request, WorkspaceCreate)
    rt = _rt(request)
    if body.name in rt.workspaces:
        raise ApiError(409, "workspace_exists", f"workspace {body.name!r} exists")
    with rt.workspace_slot(body.name):
        created, workspace = await rt.start_workspace(body.name)
    if not created:
        raise ApiError(409, "workspace_exists", f"workspace {body.name!r} exists")
    return web.json_response(workspace.model_dump(), status=201)


@routes.get("/v1/workspaces/{ws}/projects")
async def list_projects(request: web.Request) -> web.Response:
    rt = _rt(request)
    ws = request.match_info["ws"]
    rt.workspace_addr(ws)
    return web.json_response({"projects": await rt.reader.projects(ws)})


@routes.post("/v1/workspaces/{ws}/projects")
async def register_project(request: web.Request) -> web.Response:
    rt = _rt(request)
    ws = request.match_info["ws"]
    addr = rt.workspace_addr(ws)
    body = await json_body(request, ProjectCreate)
    repo = repos.normalize(body.repo)
    if await rt.reader.project(ws, body.name):
        raise ApiError(409, "project_exists", f"project {body.name!r} exists in workspace {ws!r}")
    await repos.check(repo)
    reply = await rt.ask(addr, RegisterProject(request_id=rt.bridge.request_id(), name=body.name, repo=repo))
    assert isinstance(reply, ProjectRegistered)
    if not reply.created:
        raise ApiError(409, "project_exists", f"project {body.name!r} exists in workspace {ws!r}")
    return web.json_response(reply.project.model_dump(), status=201)


@routes.get("/v1/workspaces/{ws}/projects/{project}")
async def get_project(request: web.Request) -> web.Response:
    rt = _rt(request)
    ws, name = request.match_info["ws"], request.match_info["project"]
    rt.workspace_addr(ws)
    project = await rt.reader.project(ws, name)
    if project is None:
        raise ApiError(404, "project_not_found", f"no project {name!r} in workspace {ws!r}")
    return web.json_response(project)


@routes.post("/v1/workspaces/{ws}/projects/{project}/tasks")
async def create_task(request: web.Request) -> web.Response:
    rt = _rt(request)
    ws, project = request.match_info["ws"], request.match_info["project"]
    addr = rt.workspace_addr(ws)
    body = await json_body(request, TaskCreate)
    key = idempotency_key(request)
    msg = CreateTask(request_id=rt.bridge.request_id(), project=project, body=body, idempotency_key=key)
    with rt.metrics.create_seconds.time():
        reply = await rt.ask(addr, msg)
    assert isinstance(reply, TaskCreated)
    record = reply.record
    return web.json_response(
        record, status=201 if reply.created else 200, headers={"Location": f"/v1/tasks/{record['id']}"}
    )


@routes.get("/v1/workspaces/{ws}/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    rt = _rt(request)
    ws = request.match_info["ws"]
    rt.workspace_addr(ws)
    project = request.query.get("project") or None
    if project is not None and not is_name(project):
        raise ApiError(422, "invalid_parameter", "project is not a valid name", {"parameter": "project"})
    cursor = request.query.get("cursor") or None
    if cursor is not None and not is_task_id(cursor):
        raise ApiError(
            422, "invalid_parameter", "cursor is not one this server gave", {"parameter": "cursor"}
        )
    limit = int_param(request, "limit", 100, 1, 1000)
    tasks, next_cursor = await rt.reader.tasks(ws, project, statuses_param(request), limit, cursor)
    return web.json_response({"tasks": tasks, "next_cursor": next_cursor})


@routes.get("/v1/tasks/{task_id}")
async def get_task(request: web.Request) -> web.Response:
    rt = _rt(request)
    record = await rt.reader.task(task_id_of(request))
    if record is None:
        raise task_not_found(request)
    return web.json_response(record)


@routes.get("/v1/tasks/{task_id}/history")
async def history(request: web.Request) -> web.Response:
    rt = _rt(request)
    task_id = task_id_of(request)
    after = int_param(request, "after", 0, 0)
    limit = int_param(request, "limit", 100, 1, 1000)
    if await rt.reader.task(task_id) is None:
        raise task_not_found(request)
    events = await rt.reader.history(task_id, after, limit)
    if not events and await rt.reader.task(task_id) is None:
        raise task_not_found(request)  # deleted while it was read
    return web.json_response({"events": events})


def task_id_of(request: web.Request) -> str:
    """Ids name files: anything not shaped like an id is simply unknown (no path is ever built from it)."""
    task_id = request.match_info["task_id"]
    if not is_task_id(task_id):
        raise task_not_found(request)
    return task_id


def task_not_found(request: web.Request) -> ApiError:
    return ApiError(404, "task_not_found", f"no task {request.match_info['task_id']!r}")


@routes.post("/v1/tasks/{task_id}/{action:archive|kill|retry}")
async def task_action(request: web.Request) -> web.Response:
    """202 with the task's record once the action has taken effect (archive and kill run on)."""
    rt = _rt(request)
    task_id = task_id_of(request)
    await _command(request, task_id, TaskAction(request.match_info["action"]))
    return web.json_response(await rt.reader.task(task_id), status=202)


@routes.post("/v1/tasks/{task_id}/messages")
async def say(request: web.Request) -> web.Response:
    """202 with the follow-up's id once it is durable (sent to the agent after); a replay of the same
    Idempotency-Key and text: 200 with the same id."""
    task_id = task_id_of(request)
    body = await json_body(request, MessageCreate)
    key = idempotency_key(request)
    reply = await _command(request, task_id, TaskAction.say, text=body.text, idempotency_key=key)
    assert isinstance(reply, MessageAccepted)
    return web.json_response({"message_id": reply.message_id}, status=202 if reply.created else 200)


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
        raise ApiError(422, "invalid_header", "Idempotency-Key must be 1-200 printable characters")
    return key


@routes.delete("/v1/tasks/{task_id}")
async def delete_task(request: web.Request) -> web.Response:
    await _command(request, task_id_of(request), TaskAction.delete)
    return web.Response(status=204)


async def _command(request: web.Request, task_id: str, action: TaskAction, **fields: Any) -> Reply:
    """The task's command, through its workspace (a say carries its text and Idempotency-Key)."""
    rt = _rt(request)
    record = await rt.reader.task(task_id)
    if record is None:
        raise task_not_found(request)
    command = TaskCommand(request_id=rt.bridge.request_id(), task_id=task_id, action=action, **fields)
    return await rt.ask(rt.workspace_addr(record["workspace"]), command)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    rt = _rt(request)
    return web.Response(body=await rt.scrape(), headers={"Content-Type": CONTENT_TYPE_LATEST})
