"""structlog for every process: JSON lines (console rendering on a tty), with ids bound per logger."""

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for this process. `fmt` is auto|json|console."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def configure_actor(data: Path, fmt: str, level: str) -> None:
    """Actor processes are daemons that outlive the server's stdio: they append to one log file."""
    path = data / "logs" / "actors.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    configure("json" if fmt == "auto" else fmt, level, path.open("a", buffering=1))


def get(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)
