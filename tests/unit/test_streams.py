"""Websocket fan-out in-process: a stalled client is cut off (1013) without holding back a live one."""

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from actors.push import Pusher
from actors.task.store import TaskStore, task_db_path
from backend.app import create_app
from backend.hub import EventHub
from backend.reader import Reader
from backend.runtime import Runtime
from schemas.settings import Settings
from schemas.status import TaskStatus
from schemas.task_messages import TaskEvents

TASK = "0123456789abcdef012345"


class ReadyRuntime(Runtime):
    async def start(self) -> None:
        self.health = "ok"


class NoBridge:
    def request_id(self) -> str:
        return "rid"


def make_task(data: Path) -> None:
    store = TaskStore(task_db_path(data, TASK), "NORMAL")
    fields = {
        "id": TASK,
        "workspace": "w",
        "project": "p",
        "title": "t",
        "branch": "b",
        "branch_given": 0,
        "prompt": "x",
        "agent": "mock",
        "provider": "sim",
    }
    store.create(fields, {})
    store.close()


@pytest.fixture
def hub(tmp_path: Path) -> EventHub:
    return EventHub(tmp_path / "hub.sock", limit=50)


@pytest.fixture
async def server(aiohttp_server: Any, tmp_path: Path, hub: EventHub) -> Any:
    make_task(tmp_path)
    runtime = ReadyRuntime(Settings(data_dir=tmp_path), None, NoBridge(), Reader(tmp_path), hub)  # type: ignore[arg-type]
    return await aiohttp_server(create_app(runtime))


async def stalled_client(port: int) -> socket.socket:
    """A websocket client that completes the handshake, then never reads again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(
        sock,
        f"GET /v1/tasks/{TASK}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    assert b"101" in await loop.sock_recv(sock, 12)
    return sock


async def test_a_stalled_client_is_closed_and_a_live_one_gets_every_event(server, hub):
    """The stalled client never reads: its buffers fill, its frames back up past the bound, and it is
    cut off, while a client reading alongside it gets every event, in order."""
    stalled = await stalled_client(server.port)
    last = 3001
    events = [
        {"seq": seq, "kind": "task.status", "status": "running", "at": "now", "data": {"pad": "x" * 4000}}
        for seq in range(2, last + 1)
    ]
    url = f"http://127.0.0.1:{server.port}/v1/tasks/{TASK}/events"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as live:

        async def read_all() -> list[int]:
            seqs: list[int] = []
            async for msg in live:
                seqs.append(json.loads(msg.data)["seq"])
                if seqs[-1] == last:
                    break
            return seqs

        while hub.subscribers() < 2:
            await asyncio.sleep(0.01)
        reading = asyncio.create_task(read_all())
        for start in range(0, len(events), 5):  # as the actors would: small batches per commit
            hub.dispatch(TaskEvents(task_id=TASK, events=events[start : start + 5]))
            await asyncio.sleep(0.001)
        async with asyncio.timeout(30):
            received = await reading
        assert received == list(range(2, last + 1))  # in order, none lost, none doubled
        async with asyncio.timeout(10):  # the stalled one is cut off; the live one is still there
            while hub.subscribers() > 1:
                await asyncio.sleep(0.05)
        assert hub.subscribers() == 1
    stalled.close()


async def test_shutdown_closes_sockets_with_going_away(aiohttp_client, tmp_path, hub):
    make_task(tmp_path)
    runtime = ReadyRuntime(Settings(data_dir=tmp_path), None, NoBridge(), Reader(tmp_path), hub)  # type: ignore[arg-type]
    app = create_app(runtime)
    client = await aiohttp_client(app)
    ws = await client.ws_connect(f"/v1/tasks/{TASK}/events?since=0")
    first = await ws.receive_json()
    assert first["kind"] == "task.created"
    await app.shutdown()
    closing = await ws.receive()
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001


async def test_pushes_over_the_hub_socket_reach_a_subscriber_and_a_lost_one_is_filled(server, tmp_path):
    """The actors' path: a Pusher's JSON lines over the Unix socket become frames in seq order; an
    event committed but never pushed (seq 2) is read from the task's history, not skipped."""
    url = f"http://127.0.0.1:{server.port}/v1/tasks/{TASK}/events?since=0"
    pushed = {"seq": 3, "kind": "task.status", "status": "init_ensure_name", "at": "now", "data": {}}
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        assert (await ws.receive_json())["seq"] == 1  # replayed
        store = TaskStore(task_db_path(tmp_path, TASK), "NORMAL")
        store.enter(TaskStatus.init_ensure_name, 1, "2099-01-01T00:00:00.000Z")
        store.close()
        pusher = Pusher(tmp_path / "hub.sock")
        await asyncio.to_thread(pusher.push, TaskEvents(task_id=TASK, events=[pushed]))
        filled, second = await ws.receive_json(), await ws.receive_json()
        pusher.close()
    assert (filled["seq"], filled["kind"], second) == (2, "task.status", pushed)
