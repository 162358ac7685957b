"""TaskPoolActor: forks task actors ahead of need, so that a create never waits for a fork.

  StartPool        → fork `size` task actors and Bind them; each, once bound, tells the project it is ready.
                     On a worker that (re)joined, also say which of the project's tasks there must resume.
  Taken            → the project put one to work: fork a replacement.
  ChildActorExited → tell the project, which drops the actor from its registry.
A fork takes 10-30 ms; in the project actor it would stall every create queued behind it.
"""

from typing import Any

from thespian.actors import ActorTypeDispatcher, ChildActorExited

from actors.hosts import HostBound
from actors.task import TaskActor
from actors.task_store import settled_on_disk, task_db_path
from schemas.project_messages import HostScanned, StartPool, TaskActorExited
from schemas.task_messages import Bind


class TaskPoolActor(HostBound, ActorTypeDispatcher):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.bind: Bind | None = None

    def receiveMsg_StartPool(self, msg: StartPool, sender: Any) -> None:
        self.bind = msg.bind
        for _ in range(msg.size):
            self._fork()
        if msg.scan:
            data = msg.bind.settings.data_dir
            unfinished = [t for t in msg.scan if not settled_on_disk(task_db_path(data, t))]
            self.send(msg.bind.project_addr, HostScanned(host=msg.bind.host, task_ids=unfinished))

    def receiveMsg_Taken(self, msg: Any, sender: Any) -> None:
        self._fork()

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Any) -> None:
        assert self.bind
        self.send(self.bind.project_addr, TaskActorExited(address=msg.childAddress))

    def _fork(self) -> None:
        assert self.bind
        self.send(self.createActor(TaskActor), self.bind)
