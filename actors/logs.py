"""structlog for every process: JSON lines (console rendering on a tty), with ids bound per logger."""

import contextlib
import fcntl
import logging
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

import structlog

from schemas.settings import Settings


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for this process (stderr). `fmt` is auto|json|console. Whatever else this
    process writes to stderr is routed through the same renderer (`route_stderr`)."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    global _actor_setup
    _actor_setup = None
    _configure(console, level, structlog.WriteLoggerFactory(cast(TextIO, Lossy(out))))
    route_stderr(out, console, level)


_actor_setup: tuple[Any, ...] | None = None  # what configure_actor last set up in this process


def configure_actor(s: Settings) -> None:
    """Actor processes are daemons that outlive the server's stdio: they append to one log file. A runner
    hosts many actors, each calling this as it starts: the file is opened once."""
    global _actor_setup
    setup = (s.data_dir, s.log_max_mb, s.log_keep, s.log_format, s.log_level)
    if setup == _actor_setup:
        return
    _actor_setup = setup
    log = SharedLog(s.data_dir / "logs" / "actors.log", s.log_max_mb * 2**20, s.log_keep)
    factory = structlog.WriteLoggerFactory(cast(TextIO, log))  # it uses only write() and flush()
    _configure(s.log_format == "console", s.log_level, factory)


def _renderer(console: bool) -> Any:
    return structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()


def _configure(console: bool, level: str, factory: Any) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _renderer(console),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


def route_stderr(out: TextIO, console: bool, level: str) -> None:
    """Everything else that writes to stderr, one line each in the same format: stdlib logging (aiohttp's
    server errors, asyncio's `Task exception was never retrieved`, any library's), warnings, and
    exceptions nobody caught (in the main thread, another thread, or a `__del__`). Python prints them
    as bare text by default, several lines each, which operators read as a crash and a log shipper
    cannot parse. Libraries log from WARNING up, as Python's last-resort handler printed them (thespian's
    info lines, aiohttp's access log: a line per request, stay out)."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(console)],
    )
    handler = logging.StreamHandler(cast(TextIO, Lossy(out)))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()]))
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable


def _uncaught(kind: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
    structlog.get_logger().critical("process.uncaught_exception", exc_info=(kind, exc, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # as threading's own hook: a thread that exits is no error
    value = args.exc_value or args.exc_type()
    name = args.thread.name if args.thread else None
    exc_info = (args.exc_type, value, args.exc_traceback)
    structlog.get_logger().error("thread.uncaught_exception", thread=name, exc_info=exc_info)


def _unraisable(unraisable: Any) -> None:
    """An exception Python could not raise (in a `__del__`, a finalizer, a callback at shutdown)."""
    kind = unraisable.exc_type
    exc_info = (kind, unraisable.exc_value or kind(), unraisable.exc_traceback)
    try:
        about = repr(unraisable.object)[:200]
    except Exception:  # a broken __repr__ must not hide the report
        about = object.__repr__(unraisable.object)
    message = unraisable.err_msg or "Exception ignored in"
    structlog.get_logger().warning(
        "process.unraisable_exception", message=message, object=about, exc_info=exc_info
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
