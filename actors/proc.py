"""Running a command to completion from inside an actor.

Output goes to temporary files, never pipes: actors fork (a project actor forks task actors) while a
worker thread may be running a command, and a forked child would inherit the pipe's write end and
hold it open forever, so reading the pipe to EOF would never return. Files have no EOF to wait for.
"""

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float
) -> Completed:
    """Run argv (no shell); raises subprocess.TimeoutExpired after killing it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return Completed(code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
