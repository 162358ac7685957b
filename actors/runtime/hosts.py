"""Where actors run in a multi-host convention: each actor system advertises capabilities naming its
host, and actors that must live on one host (a project's mirror, a task) are created with that host as
requirement.

Their runner (actors/runtime/runner.py) makes a runner on that host for them: thespian tries the local
system first, then each convention member, calling the Runner class's `actorSystemCapabilityCheck`.
"""

from pathlib import Path
from typing import Any

HOST = "crucible.host"  # the host's name: "leader", or a worker's --name
DATA = "crucible.data"  # its data directory
CAPACITY = "crucible.capacity"  # tasks it may hold; a worker's --capacity
JOINED = "crucible.joined"  # in requirements only: when the host joined (see on_host)
LEADER = "leader"


def leader_capabilities(data: Path) -> dict[str, Any]:
    return {HOST: LEADER, DATA: str(data)}


def worker_capabilities(name: str, data: Path, capacity: int, leader: tuple[str, int]) -> dict[str, Any]:
    """A member of the leader's convention, advertising where its task actors will keep their files."""
    return {"Convention Address.IPv4": leader, HOST: name, DATA: str(data), CAPACITY: capacity}


def on_host(host: str, joined: str = "") -> dict[str, str]:
    """Requirements that place an actor on `host`; `joined` (when it last joined) tells a worker that
    rejoined from its earlier run, whose runners are gone (actors/runtime/runner.py)."""
    return {HOST: host, JOINED: joined}


def stranded(summary: dict[str, Any], down_since: str) -> dict[str, Any]:
    """A task summary as clients see it while its worker is gone: its own status, and why it stalls."""
    if not down_since:
        return summary
    note = f"worker {summary['host']} unreachable since {down_since}; the task resumes when it rejoins"
    return {**summary, "status_message": note}


class HostBound:
    """Mixin of the thespian actor that hosts ours (the Runner): it runs only on the host its creator
    names (or anywhere, if none is named)."""

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict[str, Any], requirements: dict[str, Any]) -> bool:
        wanted = (requirements or {}).get(HOST)
        return wanted is None or capabilities.get(HOST) == wanted
