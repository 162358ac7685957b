"""The admin script's line to a running server's actor system: attach, never start one.

`ActorSystem(...)` on a port where nothing listens *starts* a new system, and `createActor(globalName=…)`
*creates* a missing actor, so the port is probed first and workspace actors are looked up in the
thespian Admin's own table of global names (a status request), never created.
"""

import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from actors.runtime import loopback
from actors.runtime.refs import Ref, addressed
from actors.runtime.system import SYSTEM_BASE
from schemas.messages import Address, Failure, Reply, Request
from schemas.runner_messages import RunnerLoad, RunnerLoaded


class Unreachable(Exception):
    """Nothing answers on the actor port: no server runs for this data directory."""


class Refused(Exception):
    """The actors answered with a refusal (an HTTP-like status, a stable code, a message)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class ActorLink:
    def __init__(self, port: int, data: Path, timeout_s: float = 10.0, host: str = loopback.LOOPBACK) -> None:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            try:
                probe.connect((host, port))
            except OSError:
                raise Unreachable(f"no Crucible actor system listens on {host}:{port}") from None
        loopback.apply(host)  # a leader on a cluster address listens there only
        from thespian.actors import ActorSystem  # after the probe: attaching must never start a system

        os.environ.setdefault("THESPLOG_FILE", str(data / "logs" / "thespian-admin.log"))
        self.asys = ActorSystem(SYSTEM_BASE, {"Admin Port": port}, logDefs=False)
        self.timeout_s = timeout_s

    def workspaces(self, asleep: bool = True) -> dict[str, Address]:
        """Workspace name → actor address: the runners (the Admin's global names `runner:N`) say which
        top-level actors they host, in memory and (unless `asleep` is False) asleep: a message to one
        wakes it."""
        from thespian.system.messages.status import Thespian_StatusReq

        status = self.asys.ask(self.asys._systemBase.adminAddr, Thespian_StatusReq(), self.timeout_s)
        if status is None:
            raise Unreachable("the actor system did not answer a status request")
        found = {}
        for global_name, addr in status.globalActors.items():
            if not global_name.startswith("runner:"):
                continue
            load = self.ask(addr, RunnerLoad(request_id=secrets.token_hex(8)))
            assert isinstance(load, RunnerLoaded)
            for key in load.top + (load.asleep if asleep else []):
                if key.startswith("workspace:"):
                    found[key.removeprefix("workspace:")] = Ref(addr, load.name, key)
        return found

    def ask(self, addr: Address, msg: Request, timeout_s: float | None = None) -> Reply:
        """One request, its reply matched by request id (a stray message, e.g. a followed task's
        events, is skipped); a Failure is raised as Refused."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        reply = self.asys.ask(*addressed(addr, msg), timeout_s or self.timeout_s)
        while not (isinstance(reply, Reply) and reply.request_id == msg.request_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {type(msg).__name__} within {timeout_s or self.timeout_s}s")
            reply = self.asys.listen(remaining)
        if isinstance(reply, Failure):
            raise Refused(reply)
        return reply

    def tell(self, addr: Address, msg: Any) -> None:
        self.asys.tell(*addressed(addr, msg))

    def listen(self, timeout_s: float) -> Any:
        return self.asys.listen(timeout_s)
