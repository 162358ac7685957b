"""`crucible`: serve the app (the leader), or join a leader's convention as a worker that hosts task
actors. The actor system starts first, before any socket or thread exists."""

import argparse
import os
import socket
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from actors import logs
from actors.runtime import hosts, system
from backend import worker
from backend.app import create_app
from backend.bridge import Bridge
from backend.errors import quiet_client_errors
from backend.hub import EventHub
from backend.reader import Reader
from backend.runtime import Runtime
from backend.settings_layers import resolve
from schemas.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crucible", description="Durable coding-agent task backend")
    parser.add_argument("--version", action="version", version=f"crucible {version('crucible')}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API and run the actors")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--actor-port", type=int)
    serve.add_argument("--provider", choices=["local", "sim"])
    serve.add_argument("--role", choices=["leader"], default="leader", help="workers join a leader")
    _cluster_flags(serve)
    worker = sub.add_parser("worker", help="host task actors for a leader (multi-host)")
    worker.add_argument("--leader", required=True, type=_host_port, help="the leader's HOST:ACTOR_PORT")
    worker.add_argument("--capacity", type=int, default=16, help="tasks this worker may hold")
    worker.add_argument("--name", help="stable across restarts (default: HOSTNAME:ACTOR_PORT)")
    worker.add_argument("--data-dir")
    worker.add_argument("--actor-port", type=int)
    _cluster_flags(worker)
    return parser.parse_args(argv)


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-address", help="private IPv4 the actor sockets bind to (default loopback)")
    parser.add_argument("--allow-public", action="store_true", default=None, help="allow a public address")


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host, int(port)


# Where scripts/setup.sh installs the pinned sandbox-agent binary, inside the checkout.
BUNDLED_AGENT = (
    Path(__file__).resolve().parent.parent
    / ".tools/sandbox-agent/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent"
)


RUNNER_DIED = 3  # exit code: a runner process died, and the server stopped so as to be started again
WORKER_ONLY = ("command", "role", "leader", "capacity", "name")


def settings_from(args: argparse.Namespace) -> Settings:
    given = {k: v for k, v in vars(args).items() if k not in WORKER_ONLY and v is not None}
    if "CRUCIBLE_SANDBOX_AGENT_BIN" not in os.environ and BUNDLED_AGENT.exists():
        given["sandbox_agent_bin"] = str(BUNDLED_AGENT)
    return resolve(given).settings  # command line > CRUCIBLE_* environment > pid file > defaults


def serve(settings: Settings) -> int:
    logs.configure(settings.log_format, settings.log_level)
    quiet_client_errors()
    log = structlog.get_logger().bind(component="serve")
    refused = system.prepare(settings.cluster_address, settings.allow_public)
    if refused:
        log.error("serve.refused", reason=refused)
        return 2
    data = settings.data_dir
    try:
        lock_fd = system.claim_data_dir(data)
        system.clear_for_start(data, settings.actor_port)
        asys = system.start(settings.actor_port, data, hosts.leader_capabilities(data))
    except system.Refused as exc:
        log.error("serve.refused", reason=str(exc))
        return exc.exit_code
    bridge = Bridge(asys, settings.bridge_threads, settings.ask_timeout_s)
    hub = EventHub(settings.hub_socket, settings.ws_queue_frames)
    runtime = Runtime(settings, asys, bridge, Reader(data, settings.idle_timeout_s + 5), hub)
    app = create_app(runtime)
    log.info(
        "serve.listening",
        host=settings.host,
        port=settings.port,
        data_dir=str(data),
        actor_port=settings.actor_port,
        provider=settings.provider.value,
    )
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=None,
            handle_signals=True,
            shutdown_timeout=settings.drain_deadline_s,
        )
    finally:
        began = time.monotonic()
        bridge.close()
        stopped, leftovers = system.stop(asys, data)
        log.info(
            "serve.stopped",
            leftover_actor_processes=leftovers,
            actors_stop_ms=round((stopped - began) * 1000),
            total_ms=round((time.monotonic() - began) * 1000),
        )
        os.close(lock_fd)
    return RUNNER_DIED if runtime.lost else 0


def main(argv: list[str] | None = None) -> Any:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        sys.exit(serve(settings_from(args)))
    if args.command == "worker":
        settings = settings_from(args)
        name = args.name or f"{socket.gethostname()}:{settings.actor_port}"
        sys.exit(worker.work(settings, args.leader, args.capacity, name))


if __name__ == "__main__":
    main()
