"""A workspace's live agents, counted durably (the workspace database's `agents` table).

Agents outlive task actors (a running task keeps its agent), so their slots are held by task id and
freed only when a task is archived, killed or deleted. The workspace actor sends what these return.
"""

import sqlite3
from typing import Any

from actors import db
from schemas.messages import Address
from schemas.project_messages import AgentSlot, AgentSlotGranted, AgentSlotQueued

Reply = tuple[Any, AgentSlotGranted | AgentSlotQueued]  # (address, message)


class AgentSlots:
    def __init__(self, conn: sqlite3.Connection, limit: int) -> None:
        self.conn, self.limit = conn, limit
        self.waiting: list[tuple[AgentSlot, Any]] = []  # tasks waiting for a slot, in order

    def ask(self, msg: AgentSlot, addr: Address) -> Reply:
        holders = {r[0] for r in self.conn.execute("SELECT task_id FROM agents")}
        if msg.task_id in holders or len(holders) < self.limit:
            return self._grant(msg, addr)
        self.forget([msg.task_id])
        self.waiting.append((msg, addr))
        return addr, AgentSlotQueued(task_id=msg.task_id, attempt=msg.attempt, ahead=len(self.waiting) - 1)

    def free(self, task_id: str) -> list[Reply]:
        """The task's slot frees (if it held one); the oldest waiting get theirs."""
        with db.transaction(self.conn) as c:
            c.execute("DELETE FROM agents WHERE task_id = ?", (task_id,))
        self.forget([task_id])  # killed while waiting
        held = self.conn.execute("SELECT count(*) FROM agents").fetchone()[0]
        granted = []
        while self.waiting and held < self.limit:
            granted.append(self._grant(*self.waiting.pop(0)))
            held += 1
        return granted

    def forget(self, task_ids: list[str]) -> None:
        """No longer waiting (killed, or its host left: it asks again when it resumes)."""
        self.waiting = [(m, a) for m, a in self.waiting if m.task_id not in task_ids]

    def _grant(self, msg: AgentSlot, addr: Address) -> Reply:
        with db.transaction(self.conn) as c:
            c.execute("INSERT OR IGNORE INTO agents VALUES (?)", (msg.task_id,))
        return addr, AgentSlotGranted(task_id=msg.task_id, attempt=msg.attempt)
