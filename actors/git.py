"""git as a subprocess: an argument list (never a shell), no prompts, a timeout on every call."""

import os
import subprocess
import threading
from pathlib import Path

from actors import proc

GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/true",
    "SSH_ASKPASS": "/bin/true",
    "GIT_SSH_COMMAND": "ssh -oBatchMode=yes",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_ALLOW_PROTOCOL": "file:https:ssh",  # never ext:: (it runs commands) nor plain-text transports
}


class GitError(Exception):
    pass


def git(
    *args: str, cwd: Path | None = None, timeout: float = 120.0, cancelled: threading.Event | None = None
) -> str:
    """Run git; return stdout, or raise GitError with git's own message."""
    try:
        done = proc.run(["git", *args], cwd=cwd, env=GIT_ENV, timeout=timeout, cancelled=cancelled)
    except proc.Cancelled as exc:
        raise GitError(str(exc)) from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from exc
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise GitError(f"git {args[0]}: {message}")
    return done.stdout
