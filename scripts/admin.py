"""crucible-admin: what every actor and task of a running server is doing now, and acting on it.

Talks to the server's actor system through thespian (scripts/actor_link.py), never over HTTP; reads
durable state (records, history, the projection) from the data directory's databases, read-only,
through the same reader as the web process. `--json` (after the subcommand) prints one JSON document
(`history --follow`: JSON lines).

Settings as `crucible serve` resolves them (backend/settings_layers.py): `--data-dir`, then
CRUCIBLE_DATA_DIR, then ./data; `--actor-port`, then CRUCIBLE_ACTOR_PORT, then the data directory's pid
file (the running server's), then the default. So the admin run with the server's flags or environment,
or with only its data directory, finds that server.

Exit codes: 0 done, 1 no server (nothing listens), 2 bad usage, 3 unknown task, 4 refused (the task's
status forbids it, or the server is draining), 5 no answer in time.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich import progress
from rich.console import Console
from rich.table import Table

from actors import db
from actors.runtime import system
from backend.reader import Reader
from backend.settings_layers import Resolved, resolve
from schemas.messages import Address, Describe, Described
from schemas.status import AT_REST
from schemas.task_messages import (
    CommandDone,
    MessageAccepted,
    ReadTask,
    TaskAction,
    TaskCommand,
    TaskRead,
)
from scripts.actor_link import ActorLink, Refused, Unreachable

EXIT_UNREACHABLE, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_TIMEOUT = 1, 2, 3, 4, 5
out = Console()
err = Console(stderr=True)


class NotFound(Exception):
    pass


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crucible-admin", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="default: CRUCIBLE_DATA_DIR, else ./data")
    parser.add_argument(
        "--actor-port", type=int, help="default: CRUCIBLE_ACTOR_PORT, else the server's (pid file)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--json", action="store_true", help="one JSON document, for scripts")
        return p

    command("status", help="actors, tasks by status, steps in flight, pending retries")
    command("actors", help="every live actor: kind, id, address, age")
    tasks = command("tasks", help="tasks from the workspace projection")
    tasks.add_argument("--status", help="comma-separated statuses")
    tasks.add_argument("--project")
    tasks.add_argument("--workspace", default="default")
    tasks.add_argument("--limit", type=int, default=100)
    command("show", help="a task's record and steps").add_argument("task_id")
    history = command("history", help="a task's events")
    history.add_argument("task_id")
    history.add_argument(
        "--follow",
        action="store_true",
        help="then live events, until the task is at rest (a running local task: its conversation, on)",
    )
    actions = {
        "resume": "skip a pending backoff",
        "retry": "retry a task in error",
        "archive": "archive a running, idle or failed task (its branch kept in the mirror)",
        "kill": "kill a task (agent, checkout, branch and reservation gone)",
        "delete": "delete an archived or killed task's database and logs",
    }
    for action, text in actions.items():
        acting = command(action, help=text)
        acting.add_argument("task_ids", nargs="*" if action == "resume" else "+", metavar="ID")
    say = command("say", help="send a running or idle task's agent a follow-up prompt")
    say.add_argument("task_id")
    say.add_argument("text")
    resume = sub.choices["resume"]
    resume.add_argument("--all", action="store_true", help="every task waiting out a backoff")
    command("drain", help="drain and stop the server (SIGTERM to it), showing progress")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        args.resolved = resolve({"data_dir": args.data_dir, "actor_port": args.actor_port})
    except ValidationError as exc:  # a CRUCIBLE_* variable the server would refuse too
        err.print(f"crucible-admin: invalid settings: {exc}")
        sys.exit(EXIT_USAGE)
    data = args.resolved.settings.data_dir
    try:
        code = COMMANDS[args.command](args, data)
    except Unreachable as exc:
        err.print(f"crucible-admin: {exc}")
        code = EXIT_UNREACHABLE
    except NotFound as exc:
        err.print(f"crucible-admin: {exc}")
        code = EXIT_NOT_FOUND
    except Refused as exc:
        failure = exc.failure
        _emit(args, {"error": failure.model_dump(exclude={"request_id"})}, lambda: err.print(failure.message))
        code = EXIT_NOT_FOUND if failure.status == 404 else EXIT_REFUSED
    except TimeoutError as exc:
        err.print(f"crucible-admin: {exc}")
        code = EXIT_TIMEOUT
    sys.exit(code)


# ---- commands -----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, data: Path) -> int:
    actors = _walk(_link(args, data))
    reader = Reader(data)
    by_status: dict[str, int] = {}
    for ws in _run(reader.workspaces()):
        for status, count in _run(reader.status_counts(ws["name"])).items():
            by_status[status] = by_status.get(status, 0) + count
    in_flight, retries = _unfinished_steps(reader)
    kinds: dict[str, int] = {}
    for actor in actors:
        kinds[actor["kind"]] = kinds.get(actor["kind"], 0) + 1
    unfinished = in_flight + retries
    oldest = max(unfinished, key=lambda r: r["age_s"] or 0) if unfinished else None
    report: dict[str, Any] = {
        "actors": kinds,
        "tasks_by_status": by_status,
        "in_flight": in_flight,
        "pending_retries": retries,
        "oldest_unfinished_step": oldest,
    }

    def show() -> None:
        out.print(_table("actors", [{"kind": k, "live": n} for k, n in sorted(kinds.items())]))
        out.print(_table("tasks", [{"status": k, "tasks": n} for k, n in sorted(by_status.items())]))
        out.print(_table("steps in flight", in_flight))
        out.print(_table("pending retries", retries))
        if oldest:
            out.print(f"oldest unfinished step: {oldest['task_id']} {oldest['step']} ({oldest['age_s']} s)")

    _emit(args, report, show)
    return 0


def cmd_actors(args: argparse.Namespace, data: Path) -> int:
    actors = _walk(_link(args, data))
    _emit(args, actors, lambda: out.print(_table("actors", actors)))
    return 0


def cmd_tasks(args: argparse.Namespace, data: Path) -> int:
    statuses = [s for s in (args.status or "").split(",") if s]
    if not Reader(data).workspace_db(args.workspace).exists():
        raise NotFound(f"no workspace {args.workspace!r}")
    page, _ = _run(Reader(data).tasks(args.workspace, args.project, statuses, args.limit, None))
    _emit(args, page, lambda: out.print(_table("tasks", page)))
    return 0


def cmd_show(args: argparse.Namespace, data: Path) -> int:
    record = _record(_reader(args, data), args.task_id)

    def show() -> None:
        fields = {k: v for k, v in record.items() if k != "steps"}
        out.print(_table(f"task {record['id']}", [{"field": k, "value": v} for k, v in fields.items()]))
        out.print(_table("steps", record["steps"]))

    _emit(args, record, show)
    return 0


def cmd_history(args: argparse.Namespace, data: Path) -> int:
    reader = _reader(args, data)
    record = _record(reader, args.task_id)
    if not args.follow:
        events = _run(reader.history(args.task_id, 0, 1_000_000))
        if args.json:
            print(json.dumps(events))
        for event in events if not args.json else ():
            _print_event(args, event)
        return 0
    link = _link(args, data)
    addr = _workspace_addr(link, record["workspace"])
    link.ask(addr, TaskCommand(request_id=_rid(), task_id=args.task_id, action=TaskAction.follow))
    converses = record["provider"] == "local"  # its agent talks after `running`
    last = 0
    try:
        while True:
            for event in _run(reader.history(args.task_id, last, 1_000_000)):
                _print_event(args, event)
                last = event["seq"]
                talking = converses and event["status"] == "running"
                if event["status"] in AT_REST and event["kind"] != "task.status" and not talking:
                    return 0  # at rest: nothing more happens unless someone acts on the task
            # A push wakes this at once; the database is the truth (pushes only say "look"), and is
            # read at least every second in case this follower was lost (a passivated actor).
            link.listen(1.0)
    finally:
        unfollow = TaskCommand(request_id=_rid(), task_id=args.task_id, action=TaskAction.unfollow)
        link.tell(addr, unfollow)


def cmd_task_action(args: argparse.Namespace, data: Path) -> int:
    """One task: its result (or refusal). Several (`resume --all` for every pending backoff): a result
    or an error per task, with progress; the exit code is the worst of them."""
    ids = list(args.task_ids)
    if getattr(args, "all", False):
        ids += [r["task_id"] for r in _unfinished_steps(Reader(data))[1]]
    elif not ids:
        err.print("crucible-admin: name the tasks, or --all")
        return EXIT_USAGE
    if len(ids) == 1 and not getattr(args, "all", False):
        result = _task_action(_link(args, data), data, args.command, ids[0])
        effect = "done" if result["changed"] else "nothing to do"
        _emit(args, result, lambda: out.print(f"{args.command}: {effect}; task is {result['status']}"))
        return 0
    link, results, code = _link(args, data), [], 0
    columns = (progress.SpinnerColumn(), progress.TextColumn("{task.description}"), progress.BarColumn())
    with progress.Progress(*columns, progress.MofNCompleteColumn(), console=err, disable=args.json) as bar:
        job = bar.add_task(args.command, total=len(ids))
        for task_id in ids:
            try:
                results.append(_task_action(link, data, args.command, task_id))
            except (NotFound, Refused) as exc:
                failure = exc.failure.model_dump(exclude={"request_id"}) if isinstance(exc, Refused) else None
                results.append({"task_id": task_id, "error": failure or {"status": 404, "message": str(exc)}})
                code = max(code, EXIT_NOT_FOUND if isinstance(exc, NotFound) else EXIT_REFUSED)
            bar.advance(job)
    _emit(args, results, lambda: out.print(_table(args.command, results)))
    return code


def _task_action(link: ActorLink, data: Path, action: str, task_id: str) -> dict[str, Any]:
    done = _command(link, data, task_id, TaskAction(action))
    assert isinstance(done, CommandDone)
    return done.model_dump(exclude={"request_id"})


def _command(link: ActorLink, data: Path, task_id: str, action: TaskAction, **fields: Any) -> Any:
    """The task's command, through its workspace (a say carries its text)."""
    record = _record(Reader(data, remote=LinkReads(link)), task_id)
    command = TaskCommand(request_id=_rid(), task_id=task_id, action=action, **fields)
    return link.ask(_workspace_addr(link, record["workspace"]), command)


def cmd_say(args: argparse.Namespace, data: Path) -> int:
    """The follow-up is durable once this answers; the agent gets it right after, at most once."""
    accepted = _command(_link(args, data), data, args.task_id, TaskAction.say, text=args.text)
    assert isinstance(accepted, MessageAccepted)
    result = {"task_id": args.task_id, "message_id": accepted.message_id}
    _emit(args, result, lambda: out.print(f"said: message {accepted.message_id}"))
    return 0


def cmd_drain(args: argparse.Namespace, data: Path) -> int:
    """SIGTERM to the server named in the data directory's pid file: the drain of docs/design.md, rule 8, the
    same path as a signal from a supervisor; then its progress, until the server has exited."""
    _link(args, data)  # one-line error and exit 1 if nothing runs
    info = system.read_pid_file(data) or {}
    pid = info.get("server_pid")
    if not pid:
        raise Unreachable(f"no server pid file in {data}")
    os.kill(pid, signal.SIGTERM)
    began, reader = time.monotonic(), Reader(data)
    columns = (progress.SpinnerColumn(), progress.TextColumn("{task.description}"))
    with progress.Progress(*columns, progress.TimeElapsedColumn(), console=err, disable=args.json) as bar:
        job = bar.add_task("draining")
        while system.process_alive(pid):
            busy = len(_run(reader.unfinished()))
            bar.update(job, description=f"draining: {busy} unfinished task(s), steps reaching a boundary")
            time.sleep(0.2)
    report = {"server_pid": pid, "stopped": True, "seconds": round(time.monotonic() - began, 2)}
    _emit(args, report, lambda: out.print(f"server {pid} drained and stopped in {report['seconds']} s"))
    return 0


COMMANDS = {
    "status": cmd_status,
    "actors": cmd_actors,
    "tasks": cmd_tasks,
    "show": cmd_show,
    "history": cmd_history,
    "resume": cmd_task_action,
    "retry": cmd_task_action,
    "archive": cmd_task_action,
    "kill": cmd_task_action,
    "delete": cmd_task_action,
    "say": cmd_say,
    "drain": cmd_drain,
}


# ---- helpers ------------------------------------------------------------------------------------


def _link(args: argparse.Namespace, data: Path) -> ActorLink:
    """A system on the default port, with no pid file here, is not this data directory's (every server
    writes its pid file before its actor system starts): never attached to."""
    resolved: Resolved = args.resolved
    if resolved.actor_port_source == "default":
        raise Unreachable(
            f"no server has run with data directory {data} (no pid file);"
            " pass --actor-port or set CRUCIBLE_ACTOR_PORT"
        )
    return ActorLink(resolved.settings.actor_port, data, host=resolved.actor_host)


def _unfinished_steps(reader: Reader) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first step left of every task not at rest: (in flight, waiting out a backoff)."""
    in_flight: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    for task_id in _run(reader.unfinished()):
        record = _run(reader.task(task_id))
        left = [s for s in record["steps"] if s["status"] not in ("done", "cancelled")] if record else []
        if record is None or not left or record["status"] in AT_REST:
            continue
        step = left[0]
        row = {"task_id": task_id, "project": record["project"], "step": step["name"]}
        row |= {"state": step["status"], "attempt": step["attempts"], "age_s": _age(step["started_at"])}
        (retries if step["status"] == "retrying" else in_flight).append(row)
    return in_flight, retries


def _walk(link: ActorLink) -> list[dict[str, Any]]:
    """Every live actor: each workspace in memory answers for itself and its projects (one asleep has
    none live, and is left asleep)."""
    actors: list[dict[str, Any]] = []
    for addr in link.workspaces(asleep=False).values():
        reply = link.ask(addr, Describe(request_id=_rid()))
        assert isinstance(reply, Described)
        actors += [{**a.model_dump(), "age_s": _age(a.since)} for a in reply.actors]
    return actors


def _workspace_addr(link: ActorLink, workspace: str) -> Address:
    addr = link.workspaces().get(workspace)
    if addr is None:
        raise Unreachable(f"workspace {workspace!r} has no live actor")
    return addr


class LinkReads:
    """A task on a worker of the convention is read by its actor there, through the leader's actors."""

    def __init__(self, link: Callable[[], ActorLink] | ActorLink) -> None:
        self.link = link

    async def read_task(
        self, workspace: str, task_id: str, after: int, limit: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if not isinstance(self.link, ActorLink):
            self.link = self.link()  # connect only for a task that is elsewhere
        addr = _workspace_addr(self.link, workspace)
        reply = self.link.ask(addr, ReadTask(request_id=_rid(), task_id=task_id, after=after, limit=limit))
        assert isinstance(reply, TaskRead)
        return reply.record, reply.events


def _reader(args: argparse.Namespace, data: Path) -> Reader:
    return Reader(data, remote=LinkReads(lambda: _link(args, data)))


def _record(reader: Reader, task_id: str) -> dict[str, Any]:
    record: dict[str, Any] | None = _run(reader.task(task_id))
    if record is None:
        raise NotFound(f"no task {task_id}")
    return record


def _print_event(args: argparse.Namespace, event: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(event), flush=True)
    else:
        data = _brief(event) if event["kind"].startswith("session.") else json.dumps(event["data"])
        line = f"{event['seq']:>4} {event['at']} {event['kind']:<18} {event['status']:<24} {data}"
        out.print(line, soft_wrap=True, markup=False, highlight=False)  # a line per event, as written


def _brief(event: dict[str, Any]) -> str:
    """A conversation event in a line: a prompt's text; an agent message's kind and text, if any."""
    data = event["data"]
    if event["kind"] == "session.prompt":
        return f"> {data['text']}"
    message = data.get("message")
    message = message if isinstance(message, dict) else {}  # truncated, or not JSON
    params = message.get("params")
    update = params.get("update") if isinstance(params, dict) else None
    update = update if isinstance(update, dict) else {}
    kind = update.get("sessionUpdate") or message.get("method") or ("result" if "result" in message else "")
    content = update.get("content")
    text = content.get("text", "") if isinstance(content, dict) else ""
    return f"[{data['agent_run']}:{data['acp_id']}] {kind} {text}".rstrip()


def _emit(args: argparse.Namespace, document: Any, show: Any) -> None:
    if args.json:
        print(json.dumps(document, default=str))
    else:
        show()


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


def _age(iso: str | None) -> float | None:
    return round(time.time() - db.parse(iso), 1) if iso else None


def _rid() -> str:
    return os.urandom(8).hex()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


if __name__ == "__main__":
    main()
