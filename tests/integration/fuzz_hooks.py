"""Schemathesis hooks for the fuzz test (loaded by `st run` through SCHEMATHESIS_HOOKS).

Random names and ids almost never exist, so a purely random request stops at a 404 before the code that
matters. For two requests in three these hooks aim the generated request at a workspace, project or task
that exists (`default`, `demo`, FUZZ_TASK_IDS made by the test), chosen from a checksum of what was
generated so that a seed replays the same run. A value the server itself gave (a name or id in an answer:
what the stateful phase passes along an OpenAPI link, from a created workspace to its project to its
task and the task's reads and actions) is left as it is, and so is a path generated to violate the
schema: made valid, it would turn a request schemathesis expects refused into one the server rightly
accepts. Likewise two project registrations in three get FUZZ_REPO, a real repository, so that a project
registered by the fuzzer can take tasks. Per-task `provider: local` becomes `sim`: the fuzz runs the sim
provider only (a local task would start a real agent process for every create).

Its workers are threads: see `serialized_parse` for the one thing they must not do at the same time.
"""

import ast
import os
import re
import threading
import zlib
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

TASK_IDS = [t for t in os.environ.get("FUZZ_TASK_IDS", "").split(",") if t]
REPO = os.environ.get("FUZZ_REPO", "")
REAL = {"ws": "default", "project": "demo"}
GIVEN: set[str] = set()  # names and ids the server answered with (set.add is atomic under the GIL)
_PARSING = threading.RLock()
_parse = ast.parse


def serialized_parse(*args: Any, **kwargs: Any) -> ast.AST:
    """`ast.parse`, one thread at a time. CPython 3.11 keeps the AST constructor's recursion depth in
    state shared by every thread, so two workers parsing at once (hypothesis reads a lambda's source to
    describe a filter) fail with `SystemError: AST constructor recursion depth mismatch`, seen as a
    schemathesis runtime error ending the coverage phase of `--workers 4`."""
    with _PARSING:
        return _parse(*args, **kwargs)


ast.parse = serialized_parse  # type: ignore[assignment]


def _pick(value: object) -> int:
    return zlib.crc32(repr(value).encode())


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    params = case.path_parameters
    negative = case.meta is not None and case.meta.is_negative_at
    if params and not (negative and negative(ParameterLocation.PATH)):
        pick = _pick(sorted(params.items()))
        if pick % 3:
            params.update({k: v for k, v in REAL.items() if k in params and params[k] not in GIVEN})
            if "task_id" in params and TASK_IDS and params["task_id"] not in GIVEN:
                params["task_id"] = TASK_IDS[pick % len(TASK_IDS)]
    if not isinstance(case.body, dict):
        return
    if case.body.get("provider") == "local":
        case.body["provider"] = "sim"
    body_ok = not (negative and negative(ParameterLocation.BODY))
    case.body = _unpaired(case.body)  # whatever its mode: a negative case was seen marked positive at BODY
    if REPO and "repo" in case.body and body_ok and _pick(sorted(case.body.items())) % 3:
        case.body["repo"] = REPO


PAIR = re.compile("([\ud800-\udbff])(?=[\udc00-\udfff])")


def _unpaired(value: Any) -> Any:
    """Data as generated: a high surrogate followed by a low one counts as two characters here, but
    JSON carries them as one (RFC 8259 pairs the escapes), so a string too long by this count reaches
    the server short enough to be valid. A space between them keeps each one lone, as generated, and a
    negative value as invalid as schemathesis meant it. Valid strings never hold surrogates (hypothesis
    leaves them out), so only negative data changes."""
    if isinstance(value, str):
        return PAIR.sub("\\1 ", value)
    if isinstance(value, dict):
        return {k: _unpaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpaired(v) for v in value]
    return value


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Remember the names and ids a create answered with: a later request that carries one came from
    the server (a link followed, or schemathesis's pool of answers) and is left alone."""
    if response.status_code in (200, 201) and case.method.upper() == "POST":
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            GIVEN.update(str(body[k]) for k in ("id", "name") if isinstance(body.get(k), str))
