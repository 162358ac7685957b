"""Shared fixtures: real repositories and real servers, every process they start ended afterwards."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from backend.runtime import Runtime
from tests.helpers.app import idle_runtime
from tests.server import Server, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    """The web app's runtime with no actors behind it, whose start-up never finishes (`starting`)."""
    return idle_runtime(tmp_path)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(provider: str = "sim", data: Path | None = None, **env: Any) -> Server:
        server = Server(data or tmp_path / "data", provider, {k: str(v) for k, v in env.items()})
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the suite, no process may still run from a test's directory."""
    base = str(tmp_path_factory.getbasetemp())
    yield
    me = psutil.Process()
    ours = {me.pid, *(p.pid for p in me.parents())}
    left = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] in ours:
            continue
        text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if base in text:
            left.append((proc.info["pid"], text[:200]))
    assert not left, f"processes left behind: {left}"
