"""TaskPoolActor: makes task actors ahead of need, each with its empty database prepared, so that a create
never waits for one.

  StartPool        → make `size` task actors and Bind them; each, once bound, tells the project it is ready.
                     On a worker that (re)joined, also say which of the project's tasks there must resume,
                     and which run without their agent (revived, as the leader's are at its start).
  Taken            → the project put one to work: make a replacement.
  ChildActorExited → tell the project (once), which drops the actor from its registry.
  ReadTask         → the reader interface for this host's tasks: their databases are read here, as the
                     web process reads the leader's; a read activates no task actor.
"""

from typing import Any

from thespian.actors import ChildActorExited

from actors.guard import GuardedActor
from actors.providers import agent_process as agents
from actors.task.actor import TaskActor
from actors.task.reads import read_on_disk
from actors.task.store import task_db_path
from schemas.messages import Failure
from schemas.project_messages import HostScanned, StartPool, TaskActorExited
from schemas.status import settled
from schemas.task_messages import Bind, ReadTask, TaskRead


class TaskPoolActor(GuardedActor):
    def __init__(self) -> None:
        super().__init__()
        self.bind: Bind | None = None
        self.children: list[Any] = []  # forked, exit not yet reported (thespian may report one twice)

    def receiveMsg_StartPool(self, msg: StartPool, sender: Any) -> None:
        self.bind = msg.bind
        for _ in range(msg.size):
            self._fork()
        if msg.scan:
            data = msg.bind.settings.data_dir
            live = agents.live_task_ids(data / "sandboxes")
            records = [read[0] for t in msg.scan if (read := read_on_disk(task_db_path(data, t), 0, 0))]
            unfinished = [r["id"] for r in records if not settled(r)]
            revive = [r["id"] for r in records if agents.lost_agent(r, live)]
            scanned = HostScanned(host=msg.bind.host, task_ids=unfinished, revive=revive)
            self.send(msg.bind.project_addr, scanned)

    def receiveMsg_Taken(self, msg: Any, sender: Any) -> None:
        self._fork()

    def receiveMsg_ReadTask(self, msg: ReadTask, sender: Any) -> None:
        assert self.bind
        read = read_on_disk(task_db_path(self.bind.settings.data_dir, msg.task_id), msg.after, msg.limit)
        if read is None:
            reply: TaskRead | Failure = Failure.task_not_found(msg.request_id, msg.task_id)
        else:
            reply = TaskRead(request_id=msg.request_id, record=read[0], events=read[1])
        self.send(msg.reply_to or sender, reply)

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Any) -> None:
        """Reported once: the project takes the exit of an actor it does not know for a fork that ended
        before it was bound, and a second report would count a fork twice."""
        assert self.bind
        if msg.childAddress in self.children:
            self.children.remove(msg.childAddress)
            self.send(self.bind.project_addr, TaskActorExited(address=msg.childAddress))

    def _fork(self) -> None:
        assert self.bind
        child = self.createActor(TaskActor)
        self.children.append(child)
        self.send(child, self.bind)
