"""Fault injection for the crash matrix (tests/integration/test_faults.py), off unless configured.

`CRUCIBLE_CRASH_AT=<step>:<point>` (point: before, after_effect, after_persist), or `say:before_send`
(a follow-up committed and answered, not yet sent), makes the task actor that reaches that point leave
a marker file and do nothing more, ever (it still delivers what it had
already sent): the test then `kill -9`s every process, so the data directory is exactly as a crash at
that point would leave it.
"""

from pathlib import Path

MARKER = "crash-point-reached"


def crash_point(configured: str, here: str, data: Path) -> bool:
    """True at the configured point: the caller stops there, and its actor stays frozen."""
    if not configured or configured != here:
        return False
    (data / MARKER).write_text(here)
    return True
