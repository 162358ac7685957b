"""Running `crucible-admin` against a test server."""

import json
import subprocess
import sys
from typing import Any

from tests.server import ROOT, Server


def admin(server: Server, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`crucible-admin --data-dir <the server's> <args>`, its output captured."""
    command = [sys.executable, "-m", "scripts.admin", "--data-dir", str(server.data), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def admin_json(server: Server, *args: str) -> Any:
    """`admin(...)` with `--json`, which must succeed: its one JSON document."""
    done = admin(server, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
