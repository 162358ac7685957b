"""ClusterActor: the leader's view of the convention — which hosts serve task actors — and where each
task lives.

  StartCluster                 → open cluster.sqlite (placements), watch the convention's members.
  ActorSystemConventionUpdate  → a worker joined (again, after a restart) or left: tell every watcher.
  WatchHosts                   → a project wants Hosts now and after every change.
  ListHosts                    → (HTTP, admin) every host with its load.
  Place                        → a new task's host: the up worker with the most free capacity, else the
                                 leader. Durable and idempotent by task id; a task never moves (sticky).
  Unplace                      → archived, killed or deleted: its capacity frees.
Alone (no worker ever joined), projects place every task on the leader without asking.
"""

import os
import sqlite3
from pathlib import Path
from typing import Any

from thespian.actors import ActorSystemConventionUpdate, ActorTypeDispatcher

from actors import db, logs
from actors.migrations import Schema, create
from actors.providers import agent_process as agents
from actors.runtime import hosts
from actors.task.reads import read_on_disk
from actors.task.store import task_db_path
from schemas.api import HostInfo
from schemas.cluster_messages import (
    ClusterStarted,
    FindLostAgents,
    Host,
    Hosts,
    HostsListed,
    ListHosts,
    LostAgents,
    Place,
    Placed,
    StartCluster,
    Unplace,
    WatchHosts,
)
from schemas.messages import Address

CREATE_V1 = """
CREATE TABLE IF NOT EXISTS placements (task_id TEXT PRIMARY KEY, host TEXT NOT NULL, ended INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS placements_by_host ON placements (host, ended);
"""
SCHEMA = Schema("cluster", (create(CREATE_V1),))


class ClusterActor(ActorTypeDispatcher):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conn: sqlite3.Connection | None = None
        self.data: Path | None = None
        self.hosts: dict[str, Host] = {}
        self.load: dict[str, int] = {}  # host → tasks placed there and not ended
        self.watchers: dict[str, Any] = {}  # by project: its live actor
        self.log: Any = logs.get()

    def receiveMsg_StartCluster(self, msg: StartCluster, sender: Address) -> None:
        s = msg.settings
        logs.configure_actor(s)
        self.log = logs.get(actor="cluster", pid=os.getpid())
        self.data = s.data_dir
        self.conn = db.connect(s.data_dir / "cluster.sqlite", SCHEMA, s.sqlite_synchronous)
        sql = "SELECT host, count(*) FROM placements WHERE ended = 0 GROUP BY host"
        self.load = {r[0]: r[1] for r in self.conn.execute(sql)}
        self.hosts[hosts.LEADER] = Host(name=hosts.LEADER, data=s.data_dir, capacity=0, since=db.utcnow())
        self.notifyOnSystemRegistrationChanges(True)
        self.send(sender, ClusterStarted(request_id=msg.request_id))

    def receiveMsg_ActorSystemConventionUpdate(
        self, msg: ActorSystemConventionUpdate, sender: Address
    ) -> None:
        caps = msg.remoteCapabilities or {}
        name = caps.get(hosts.HOST)
        if not name or name == hosts.LEADER:
            return  # not a Crucible worker
        if msg.remoteAdded:
            data, capacity = caps.get(hosts.DATA, ""), int(caps.get(hosts.CAPACITY, 0))
            self.hosts[name] = Host(name=name, data=data, capacity=capacity, since=db.utcnow())
        elif name in self.hosts:
            self.hosts[name] = self.hosts[name].model_copy(update={"up": False, "since": db.utcnow()})
        self.log.info("cluster.host", host=name, up=bool(msg.remoteAdded), load=self.load.get(name, 0))
        for watcher in self.watchers.values():
            self.send(watcher, Hosts(hosts=self.hosts))

    def receiveMsg_WatchHosts(self, msg: WatchHosts, sender: Address) -> None:
        self.watchers[msg.project] = sender
        self.send(sender, Hosts(hosts=self.hosts))

    def receiveMsg_ListHosts(self, msg: ListHosts, sender: Address) -> None:
        listed = [
            HostInfo(name=h.name, up=h.up, capacity=h.capacity, tasks=self.load.get(h.name, 0), since=h.since)
            for h in self.hosts.values()
        ]
        self.send(msg.reply_to or sender, HostsListed(request_id=msg.request_id, hosts=listed))

    def receiveMsg_Place(self, msg: Place, sender: Address) -> None:
        assert self.conn
        row = self.conn.execute("SELECT host FROM placements WHERE task_id = ?", (msg.task_id,)).fetchone()
        host = row[0] if row else self._choose()
        if not row:
            with db.transaction(self.conn) as c:
                c.execute("INSERT INTO placements VALUES (?, ?, 0)", (msg.task_id, host))
            self.load[host] = self.load.get(host, 0) + 1
        self.send(sender, Placed(task_id=msg.task_id, host=host))

    def receiveMsg_FindLostAgents(self, msg: FindLostAgents, sender: Address) -> None:
        """Once, at start-up (before the server is ready): a task whose sandbox is no checkout (the sim
        provider's) never had an agent, so its database is not read."""
        assert self.data
        sandboxes = self.data / "sandboxes"
        live = agents.live_task_ids(sandboxes)
        maybe = [t for t in msg.task_ids if t not in live and agents.could_have_agent(sandboxes / t)]
        records = [read[0] for t in maybe if (read := read_on_disk(task_db_path(self.data, t), 0, 0))]
        lost = [r["id"] for r in records if agents.lost_agent(r, live)]
        alive = [t for t in msg.task_ids if t in live]
        self.send(msg.reply_to or sender, LostAgents(request_id=msg.request_id, task_ids=lost, live=alive))

    def receiveMsg_Unplace(self, msg: Unplace, sender: Address) -> None:
        assert self.conn
        with db.transaction(self.conn) as c:
            row = c.execute("SELECT host FROM placements WHERE task_id = ? AND ended = 0", (msg.task_id,))
            found = row.fetchone()
            c.execute("UPDATE placements SET ended = 1 WHERE task_id = ?", (msg.task_id,))
        if found:
            self.load[found[0]] -= 1

    def _choose(self) -> str:
        """The up worker with the lowest load for its capacity; the leader when every worker is full."""
        free = [
            (self.load.get(h.name, 0) / h.capacity, h.name)
            for h in self.hosts.values()
            if h.up and h.capacity > 0 and self.load.get(h.name, 0) < h.capacity
        ]
        return min(free)[1] if free else hosts.LEADER
