"""Push committed news (task events, feed changes) to the web process's event hub.

Not a thespian tell: one sender→target pair waits for each message's ACK, which arrives only on the
sender's next loop turn, so the second push of a step waited 3-12 ms (measured). Here a push is one
`sendall` of a JSON line on a Unix socket: ~0.1 ms. It is best effort, and that is safe: with no hub
listening (start-up, shutdown) no client is subscribed, subscribers read the database only after
subscribing, and a hub that misses a push fills the gap from the task's history at the next one.
"""

import socket
from pathlib import Path

from schemas.task_messages import TaskEvents
from schemas.workspace_messages import FeedChanged

SEND_TIMEOUT_S = 1.0  # a hub stalled this long loses the push (and fills it in later), never the actor


class Pusher:
    _shared: dict[Path, "Pusher"] = {}

    @classmethod
    def shared(cls, path: Path) -> "Pusher":
        """This process's one connection to the hub: its actors all push through it, in turn."""
        if path not in cls._shared:
            cls._shared[path] = cls(path)
        return cls._shared[path]

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._sock: socket.socket | None = None

    def push(self, news: TaskEvents | FeedChanged) -> None:
        line = news.model_dump_json().encode() + b"\n"
        for _ in range(2):  # once more on a fresh connection, if the hub closed the old one
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.settimeout(SEND_TIMEOUT_S)
                    self._sock.connect(self._path)
                self._sock.sendall(line)
                return
            except OSError:
                self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
