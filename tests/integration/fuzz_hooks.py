"""Schemathesis hooks for the fuzz test (loaded by `st run` through SCHEMATHESIS_HOOKS).

Random names and ids almost never exist, so a purely random request stops at a 404 before the code that
matters. For two requests in three these hooks aim the generated request at a workspace, project or task
that exists (`default`, `demo`, FUZZ_TASK_IDS made by the test), chosen from a checksum of what was
generated so that a seed replays the same run. A path generated to violate the schema is left alone: made
valid, it would turn a request schemathesis expects refused into one the server rightly accepts.
Per-task `provider: local` becomes `sim`: the fuzz runs the sim provider only (a local task would start a
real agent process for every create).
"""

import os
import zlib
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

TASK_IDS = [t for t in os.environ.get("FUZZ_TASK_IDS", "").split(",") if t]
REAL = {"ws": "default", "project": "demo"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    params = case.path_parameters
    invalid_path = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    if params and not invalid_path:
        pick = zlib.crc32(repr(sorted(params.items())).encode())
        if pick % 3:
            params.update({k: v for k, v in REAL.items() if k in params})
            if "task_id" in params and TASK_IDS:
                params["task_id"] = TASK_IDS[pick % len(TASK_IDS)]
    if isinstance(case.body, dict) and case.body.get("provider") == "local":
        case.body["provider"] = "sim"
