"""One resolution of settings for `crucible serve`, `crucible worker` and `crucible-admin`.

Each setting comes from the first layer that has it: the command line, then the `CRUCIBLE_*`
environment, then the data directory's pid file (`<data>/crucible.pid`, written by the server that last
ran there), then the default of `schemas.settings.Settings`. The admin script and the server share this
function, so an admin run with the server's flags or environment finds that server; and an admin run with
neither still finds it through the pid file.

The pid file supplies only what it records of the running system: its actor port and the address its
actor sockets are bound to. The address is never turned into the server's `cluster_address`: a server
binds beyond loopback only when told to on its command line or in its environment.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from actors.runtime import loopback, system
from schemas.settings import Settings

Source = Literal["given", "pid file", "default"]  # given: on the command line or in the environment


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    actor_host: str  # where the actor system listens: cluster_address, else the pid file's, else loopback
    actor_port_source: Source  # "default": no server has recorded one in this data directory


def resolve(given: Mapping[str, Any]) -> Resolved:
    """`given`: the command line's values, None where a flag was left out."""
    flags = {k: v for k, v in given.items() if v is not None}
    settings = Settings(**flags)  # pydantic-settings: keyword arguments > environment > defaults
    recorded = system.read_pid_file(settings.data_dir) or {}
    source: Source = "given"  # model_fields_set: the fields given as arguments or found in the environment
    if "actor_port" not in settings.model_fields_set:
        source = "pid file" if recorded.get("actor_port") else "default"
    if source == "pid file":
        settings = Settings(**flags, actor_port=recorded["actor_port"])
    host = settings.cluster_address or recorded.get("actor_host") or loopback.LOOPBACK
    return Resolved(settings, str(host), source)
