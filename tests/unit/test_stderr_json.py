"""A process configured by logs.configure writes JSON lines only: stdlib loggers, warnings and exceptions
nobody caught go through the same renderer as its own log lines, each one line, traceback included."""

import asyncio
import gc
import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from actors import logs


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What the process would write to stderr, configured as the server configures it; every global it
    changes (root handlers and level, warning capture, the exception hooks, structlog) restored after."""
    root = logging.getLogger()
    saved: tuple[Any, ...] = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    unraisable = sys.unraisablehook
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logs.configure("json", "info", out)
        try:
            yield out
        finally:
            logging.captureWarnings(False)
            root.handlers[:], root.level, sys.excepthook, threading.excepthook = saved
            sys.unraisablehook = unraisable
            structlog.reset_defaults()


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Every non-empty line, each of which must be a JSON object."""
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_a_library_error_with_a_traceback_is_one_json_line(stderr):
    try:
        raise ValueError("bad request line")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "127.0.0.1")
    [line] = lines(stderr)
    assert line["event"] == "Error handling request from 127.0.0.1"
    assert (line["level"], line["logger"]) == ("error", "aiohttp.server")
    assert "ValueError: bad request line" in line["exception"]


def test_library_info_lines_stay_out_as_before(stderr):
    """thespian logs `++++ Actor System ... started` at INFO; Python's last-resort handler never showed it."""
    logging.getLogger().info("++++ Actor System started")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET / HTTP/1.1" 200')
    assert lines(stderr) == []


def test_a_warning_is_a_json_line(stderr):
    warnings.warn("an unclosed thing", ResourceWarning, stacklevel=1)
    [line] = lines(stderr)
    assert (line["level"], line["logger"]) == ("warning", "py.warnings")
    assert "ResourceWarning: an unclosed thing" in line["event"]


def test_a_task_exception_never_retrieved_is_a_json_line(stderr):
    async def fail() -> None:
        raise RuntimeError("nobody awaited me")

    async def main() -> None:
        asyncio.get_running_loop().create_task(fail())
        await asyncio.sleep(0.01)

    asyncio.run(main())
    gc.collect()  # the task is reported when it is collected
    [line] = [entry for entry in lines(stderr) if entry.get("logger") == "asyncio"]
    assert line["event"].startswith("Task exception was never retrieved")
    assert "RuntimeError: nobody awaited me" in line["exception"]


def test_an_exception_uncaught_in_a_thread_is_a_json_line(stderr):
    def boom() -> None:
        raise KeyError("in a thread")

    thread = threading.Thread(target=boom, name="worker-1")
    thread.start()
    thread.join()
    [line] = lines(stderr)
    assert (line["event"], line["thread"]) == ("thread.uncaught_exception", "worker-1")
    assert "KeyError: 'in a thread'" in line["exception"]


def test_an_exception_uncaught_in_the_main_thread_is_a_json_line(stderr):
    try:
        raise OSError("at the top")
    except OSError:
        sys.excepthook(*sys.exc_info())  # what the interpreter calls before it exits
    [line] = lines(stderr)
    assert (line["event"], line["level"]) == ("process.uncaught_exception", "critical")
    assert "OSError: at the top" in line["exception"]


def test_an_exception_in_a_finalizer_is_a_json_line(stderr):
    class Leaky:
        def __del__(self) -> None:
            raise RuntimeError("in __del__")

    Leaky()
    gc.collect()
    [line] = lines(stderr)
    assert line["event"] == "process.unraisable_exception"
    assert "Leaky" in line["object"] and "RuntimeError: in __del__" in line["exception"]
