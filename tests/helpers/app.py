"""The web app without actors: a runtime that never starts them (the `runtime` fixture of conftest)."""

from pathlib import Path

from backend.hub import EventHub
from backend.reader import Reader
from backend.runtime import Runtime
from schemas.settings import Settings


class IdleRuntime(Runtime):
    """A runtime whose start-up never finishes: the app stays `starting`."""

    async def start(self) -> None:
        return None


class NoBridge:
    """Stands for the bridge to the actors where a test needs only its request ids."""

    def request_id(self) -> str:
        return "generated-id"


def idle_runtime(data: Path, settings: Settings | None = None) -> IdleRuntime:
    """An IdleRuntime on `data`, with `settings` (default: every default, this data directory)."""
    hub = EventHub(data / "hub.sock", 10)
    settings = settings or Settings(data_dir=data)
    return IdleRuntime(settings, None, NoBridge(), Reader(data), hub)  # type: ignore[arg-type]
