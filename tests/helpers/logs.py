"""Reading a server's own output (tests/server.py sends its stderr and stdout to one file)."""

import json
from pathlib import Path
from typing import Any


def not_json(log: Path) -> list[str]:
    """Each non-empty line that is not a JSON object: bare text, which operators read as a crash."""
    bad = []
    for line in log.read_text().splitlines():
        try:
            if line.strip() and not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def entries(log: Path) -> list[dict[str, Any]]:
    """Every line, each a JSON object (see not_json)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
