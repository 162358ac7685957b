"""Running a command to completion from inside an actor.

Output goes to temporary files, never pipes: actors fork (a project actor forks task actors) while a
worker thread may be running a command, and a forked child would inherit the pipe's write end and
hold it open forever, so reading the pipe to EOF would never return. Files have no EOF to wait for.
"""

import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Cancelled(Exception):
    """The command was stopped because its task is being archived or killed."""


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float,
    cancelled: threading.Event | None = None,
) -> Completed:
    """Run argv (no shell); kills it and raises subprocess.TimeoutExpired after `timeout`, or
    Cancelled as soon as `cancelled` is set."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        while True:
            try:
                code = proc.wait(0.05)  # a short wait, to look at the cancel flag between two
                break
            except subprocess.TimeoutExpired:
                pass
            stop: Exception | None = None
            if cancelled is not None and cancelled.is_set():
                stop = Cancelled(f"{argv[0]} stopped: cancelled")
            elif time.monotonic() > deadline:
                stop = subprocess.TimeoutExpired(list(argv), timeout)
            if stop is not None:
                proc.kill()
                proc.wait()
                raise stop
        out.seek(0)
        err.seek(0)
        return Completed(code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
