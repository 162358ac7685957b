"""Sandbox providers: `local` (the real one, default) and `sim` (tests and benchmarks)."""

from actors.providers.base import Provider
from actors.providers.local import LocalProvider
from actors.providers.sim import SimProvider
from schemas.settings import Settings
from schemas.status import ProviderKind


def make_provider(kind: str, settings: Settings) -> Provider:
    if ProviderKind(kind) is ProviderKind.sim:
        return SimProvider(settings.sim_step_ms, settings.sim_fail)
    return LocalProvider(settings)
