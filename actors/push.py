"""Push committed news (task events, feed changes) to the web process's event hub.

Not a thespian tell: one sender→target pair waits for each message's ACK, which arrives only on the
sender's next loop turn, so the second push of a step waited 3-12 ms (measured). Here a push is a JSON
line on a Unix socket; in a runner, the pushes its actors make close together share one `sendall`. It
is best effort, and that is safe: with no hub listening (start-up, shutdown) no client is subscribed,
subscribers read the database only after subscribing, and a hub that misses a push fills the gap from
the task's history at the next one.
"""

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.task_messages import TaskEvents
from schemas.workspace_messages import FeedChanged

SEND_TIMEOUT_S = 1.0  # a hub stalled this long loses the push (and fills it in later), never the actor
HOLD_S = 0.002  # in a runner, how long a push may wait for others to share its `sendall`


class Pusher:
    _shared: dict[Path, "Pusher"] = {}
    held = False  # in a runner's turn (holding): pushes wait, to go together
    held_since = 0.0  # when the oldest push waiting was made (0: none waits)

    @classmethod
    def shared(cls, path: Path) -> "Pusher":
        """This process's one connection to the hub: its actors all push through it, in turn."""
        if path not in cls._shared:
            cls._shared[path] = cls(path)
        return cls._shared[path]

    @classmethod
    @contextmanager
    def holding(cls) -> Iterator[None]:
        """A runner's turn: pushes wait, and go together (flush_due, and at its end). A `sendall` per
        message handled cost 0.24 ms each under load (measured): the GIL handed to the runner's other
        threads and taken back, each time."""
        cls.held = True
        try:
            yield
        finally:
            cls.held = False
            cls._flush_all()

    @classmethod
    def flush_due(cls) -> None:
        """Between two messages of a turn: what has waited HOLD_S goes."""
        if cls.held_since and time.monotonic() - cls.held_since >= HOLD_S:
            cls._flush_all()

    @classmethod
    def _flush_all(cls) -> None:
        cls.held_since = 0.0
        for pusher in cls._shared.values():
            if pusher._waiting:
                lines, pusher._waiting = pusher._waiting, []
                pusher._send(b"".join(lines))

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._sock: socket.socket | None = None
        self._waiting: list[bytes] = []

    def push(self, news: TaskEvents | FeedChanged) -> None:
        line = news.model_dump_json().encode() + b"\n"
        if not Pusher.held:
            self._send(line)
            return
        if not Pusher.held_since:
            Pusher.held_since = time.monotonic()
        self._waiting.append(line)

    def _send(self, data: bytes) -> None:
        for _ in range(2):  # once more on a fresh connection, if the hub closed the old one
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.settimeout(SEND_TIMEOUT_S)
                    self._sock.connect(self._path)
                self._sock.sendall(data)
                return
            except OSError:
                self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
