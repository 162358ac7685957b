"""structlog for every process: JSON lines (console rendering on a tty), with ids bound per logger."""

import contextlib
import fcntl
import logging
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

import structlog

from schemas.settings import Settings


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for this process (stderr). `fmt` is auto|json|console."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    _configure(console, level, structlog.WriteLoggerFactory(cast(TextIO, Lossy(out))))


def configure_actor(s: Settings) -> None:
    """Actor processes are daemons that outlive the server's stdio: they append to one log file."""
    log = SharedLog(s.data_dir / "logs" / "actors.log", s.log_max_mb * 2**20, s.log_keep)
    factory = structlog.WriteLoggerFactory(cast(TextIO, log))  # it uses only write() and flush()
    _configure(s.log_format == "console", s.log_level, factory)


def _configure(console: bool, level: str, factory: Any) -> None:
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
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


class Lossy:
    """A stream that drops a line it cannot write (a full disk, a terminal gone). A log call that raised
    would break the path it reports on: an actor's answer to a failed request was never sent, and the
    client waited for the ask timeout (seen with the data directory's disk full)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.stream.write(line)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.flush()


class SharedLog:
    """A log file every actor process appends to, kept to about `max_bytes` plus `keep` older files
    (`actors.log.1` the newest). A server runs for months: unbounded, it would fill the disk (~3 KB
    per task). Each line is one O_APPEND write, so lines of several processes never interleave. The
    writer that takes the file past `max_bytes` renames it, under a lock so that one does; each other
    writer sees at its next write that it wrote to a file past the size, and reopens the name (so a
    writer that was idle across a roll puts one line at the end of the file it had open)."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open()

    def write(self, line: str) -> None:
        """Drops the line if it cannot be written: see Lossy."""
        with contextlib.suppress(OSError):
            self._file.write(line.encode())  # unbuffered: one write(2)
            if self._file.tell() > self.max_bytes:  # O_APPEND: the offset is the file's end
                self._roll()

    def flush(self) -> None:
        """Every write is already in the file."""

    def _open(self) -> BinaryIO:
        """A file object, not a bare descriptor: the copy a forked actor inherits closes with the old
        logger when that actor configures its own."""
        return self.path.open("ab", buffering=0)

    def _roll(self) -> None:
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _is_open_as(self.path, self._file.fileno()):  # nobody rolled it yet
                for k in range(self.keep, 0, -1):  # .2 → .3, .1 → .2, the file → .1
                    newer = self.path.with_name(f"{self.path.name}.{k - 1}") if k > 1 else self.path
                    if newer.exists():
                        newer.replace(self.path.with_name(f"{self.path.name}.{k}"))
            self._file.close()
            self._file = self._open()


def _is_open_as(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def get(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)
