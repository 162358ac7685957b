"""Checking a repository before a project is registered: a real `git ls-remote`, bounded and silent."""

import asyncio
import re
import subprocess
from pathlib import Path

from actors.git import GIT_ENV
from backend.errors import ApiError

_URL = re.compile(r"^(https|ssh|file)://[^\s]+$")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:[^\s]+$")


def normalize(repo: str) -> str:
    """A URL as given, or a local path made absolute. Anything else (ext::, options) is refused."""
    if repo.startswith("-"):
        raise ApiError(422, "invalid_repo", "repo must not start with '-'")
    if not repo.isprintable():  # a NUL cannot reach a path or an argument, nor a newline git's output
        raise ApiError(422, "invalid_repo", "repo must not contain control characters")
    if _URL.match(repo) or _SCP.match(repo):
        return repo
    if "::" in repo or "://" in repo:
        raise ApiError(422, "invalid_repo", "repo must be a local path or an https, ssh or file URL")
    return str(Path(repo).expanduser().resolve())


async def check(repo: str, timeout: float = 10.0) -> None:
    proc = await asyncio.create_subprocess_exec(
        "git",
        "ls-remote",
        "--quiet",
        "--exit-code",
        "--",
        repo,
        env=GIT_ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ApiError(
            422, "repo_unreachable", f"git ls-remote did not answer within {timeout:.0f}s"
        ) from None
    if proc.returncode == 2:
        raise ApiError(422, "repo_empty", "the repository has no refs (make a first commit)")
    if proc.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        raise ApiError(
            422,
            "not_a_repository",
            "repo is not a reachable git repository",
            {"git": lines[-1] if lines else f"exit {proc.returncode}"},
        )
