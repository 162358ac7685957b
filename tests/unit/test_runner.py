"""The runner hosts many actors in one process: driven here without thespian, what it sends out and what
its actors receive are recorded."""

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from thespian.actors import (
    ActorAddress,
    ActorExitRequest,
    ChildActorExited,
    WakeupMessage,
    WatchMessage,
)

from actors.runtime.refs import Batch, Envelope, runner_for
from actors.runtime.runner import Tick
from actors.runtime.timers import Timers
from actors.runtime.work import Offload, WorkPool
from schemas.runner_messages import RunnerLoad, RunnerLoaded, Spawned
from tests.helpers.runner import THERE, WEB, Do, Probe, host, ref, started


@pytest.fixture
def runner(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from started(tmp_path, monkeypatch, peers=[])


def test_a_spawn_from_the_web_is_answered_with_the_actors_ref(runner):
    host(runner, "workspace:w")
    to, reply = runner._myRef.sent[-1]
    assert to == WEB and isinstance(reply, Spawned)
    assert (reply.request_id, reply.ref) == ("s", ref("workspace:w"))


def test_actors_of_one_runner_talk_in_process_in_order_and_nothing_goes_through_thespian(runner):
    a, b = host(runner, "a"), host(runner, "b")
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(Envelope(ref("a"), Do(lambda me: [me.send(ref("b"), n) for n in range(3)])), WEB)
    assert [m for m, _ in b.got] == [0, 1, 2]
    assert {s for _, s in b.got} == {ref("a")}  # the sender is the hosted actor, not the runner
    assert len(runner._myRef.sent) == sent_before
    assert [type(m) for m, _ in a.got] == [Do]


def test_a_message_to_an_actor_of_another_runner_goes_to_that_runner_in_an_envelope(runner):
    host(runner, "a")
    far = ref("b", "leader/1", THERE)
    runner.receiveMessage(Envelope(ref("a"), Do(lambda me: me.send(far, "hi"))), WEB)
    assert runner._myRef.sent[-1] == (THERE, Envelope(far, "hi", ref("a")))


def test_what_a_turn_has_for_another_runner_travels_as_one_batch_in_order(runner):
    host(runner, "a")
    far, near = ref("b", "leader/1", THERE), ref("c", "leader/1", THERE)
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(
        Envelope(ref("a"), Do(lambda me: [me.send(t, n) for n, t in enumerate((far, near, far))])), WEB
    )
    assert runner._myRef.sent[sent_before:] == [
        (THERE, Batch([Envelope(far, 0, ref("a")), Envelope(near, 1, ref("a")), Envelope(far, 2, ref("a"))]))
    ]


def test_a_request_from_another_runner_goes_before_the_messages_waiting(runner):
    host(runner, "a"), host(runner, "b")
    order: list[str] = []
    runner.receiveMessage(
        Batch(
            [
                Envelope(ref("a"), Do(lambda me: order.append("outcome")), ref("a")),
                Envelope(ref("b"), Do(lambda me: order.append("create")), ref("x", "leader/1"), request=True),
            ]
        ),
        THERE,
    )
    assert order == ["create", "outcome"]


def test_what_a_request_sends_to_another_runner_goes_at_once_and_stays_a_request(runner):
    """Not at the end of the turn, behind whatever else the runner handles meanwhile."""
    host(runner, "a"), host(runner, "b")
    far = ref("c", "leader/1", THERE)
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(
        Batch(
            [
                Envelope(ref("b"), Do(lambda me: me.send(far, "later")), ref("b")),
                Envelope(ref("a"), Do(lambda me: me.send(far, "hi")), WEB, request=True),
            ]
        ),
        THERE,
    )
    assert runner._myRef.sent[sent_before:] == [
        (THERE, Envelope(far, "hi", ref("a"), request=True)),
        (THERE, Envelope(far, "later", ref("b"))),
    ]


def test_a_batch_reaches_each_of_its_actors_in_order(runner):
    a, b = host(runner, "a"), host(runner, "b")
    runner.receiveMessage(
        Batch([Envelope(ref("a"), 1, WEB), Envelope(ref("b"), 2, WEB), Envelope(ref("a"), 3, WEB)]), THERE
    )
    assert [m for m, _ in a.got] == [1, 3] and [m for m, _ in b.got] == [2]


def test_a_reply_to_an_outside_sender_goes_straight_to_it(runner):
    host(runner, "a")
    runner.receiveMessage(Envelope(ref("a"), Do(lambda me: me.send(me.got[-1][1], "answer"))), WEB)
    assert runner._myRef.sent[-1] == (WEB, "answer")


def test_an_actor_that_exits_ends_its_children_and_its_parent_hears_of_it(runner):
    parent = host(runner, "p")
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: me.children.append(me.createActor(Probe)))), WEB)
    (child_ref,) = parent.children
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: me.send(child_ref, ActorExitRequest()))), WEB)
    assert child_ref.key not in runner.hosted
    assert parent.got[-1] == (ChildActorExited(child_ref), child_ref)
    runner.receiveMessage(Envelope(ref("p"), ActorExitRequest()), WEB)
    assert "p" not in runner.hosted


def test_a_child_lives_beside_its_parent(runner):
    host(runner, "p")
    sent_before = len(runner._myRef.sent)
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: [me.createActor(Probe) for _ in range(3)])), WEB)
    assert [child.runner_name for child in runner.hosted["p"].children] == ["leader/0"] * 3
    assert all(child.key in runner.hosted for child in runner.hosted["p"].children)
    assert len(runner._myRef.sent) == sent_before  # no Spawn went anywhere


def test_a_wakeup_is_one_thespian_wakeup_and_reaches_its_actor_once_due(runner):
    a = host(runner, "a")
    runner.receiveMessage(
        Envelope(ref("a"), Do(lambda me: me.wakeupAfter(timedelta(seconds=0.05), "late"))), WEB
    )
    runner.receiveMessage(
        Envelope(ref("a"), Do(lambda me: me.wakeupAfter(timedelta(seconds=0.01), "soon"))), WEB
    )
    assert [p for _, p in runner._myRef.wakeups] == [Tick(), Tick()]  # the earlier timer armed another
    time.sleep(0.02)
    runner.receiveMessage(WakeupMessage(timedelta(0), Tick()), runner.myAddress)
    assert [m.payload for m, _ in a.got if isinstance(m, WakeupMessage)] == ["soon"]
    time.sleep(0.04)
    runner.receiveMessage(WakeupMessage(timedelta(0), Tick()), runner.myAddress)
    assert [m.payload for m, _ in a.got if isinstance(m, WakeupMessage)] == ["soon", "late"]


def test_a_message_that_comes_before_its_actors_spawn_waits_for_it(runner):
    runner.receiveMessage(Envelope(ref("late"), "first", "someone"), THERE)
    actor = host(runner, "late")
    assert actor.got == [("first", "someone")]


def test_a_message_for_an_actor_that_ended_is_dropped(runner):
    host(runner, "a")
    runner.receiveMessage(Envelope(ref("a"), ActorExitRequest()), WEB)
    runner.receiveMessage(Envelope(ref("a"), "too late"), WEB)
    assert "a" not in runner.unborn and "a" not in runner.hosted


def test_an_actor_asleep_leaves_memory_and_its_next_message_makes_it_again_after_its_start(runner):
    """The message that put it to sleep is the last it handles; the next, even one already in the
    mailbox, is handed to a new instance after the start message it left."""
    before = host(runner, "workspace:w")
    runner.receiveMessage(
        Batch(
            [
                Envelope(ref("workspace:w"), Do(lambda me: me._myRef.sleep("start again")), WEB),
                Envelope(ref("workspace:w"), "next", WEB),
            ]
        ),
        THERE,
    )
    after = runner.hosted["workspace:w"].actor
    assert after is not before and [m for m, _ in after.got] == ["start again", "next"]
    assert [type(m) for m, _ in before.got] == [Do, ActorExitRequest]  # closed what it held
    runner.receiveMessage(Envelope(ref("workspace:w"), Do(lambda me: me._myRef.sleep("s"))), WEB)
    assert "workspace:w" not in runner.hosted and runner.sleeping["workspace:w"] == (Probe, "s")
    runner.receiveMessage(RunnerLoad(request_id="l"), WEB)
    load = runner._myRef.sent[-1][1]
    assert isinstance(load, RunnerLoaded) and load.asleep == ["workspace:w"] and load.top == []


def test_actors_that_leave_memory_have_it_given_back(runner, monkeypatch):
    """An actor that ends frees what it held: the runner asks for it to go back to the system."""
    asked: list[bool] = []
    monkeypatch.setattr("actors.runtime.runner.memory.release_soon", lambda: asked.append(True))
    host(runner, "a")
    runner.receiveMessage(Envelope(ref("a"), ActorExitRequest()), WEB)
    assert asked == [True]


def test_an_actor_with_children_stays_awake(runner):
    """Its children know it by its address: it could not tell them it went."""
    host(runner, "p")
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: me.createActor(Probe))), WEB)
    runner.receiveMessage(Envelope(ref("p"), Do(lambda me: me._myRef.sleep("s"))), WEB)
    assert "p" in runner.hosted and runner.sleeping == {}


def test_a_parent_forgets_an_ended_child_and_the_runner_remembers_only_recent_ends(runner, monkeypatch):
    """A project makes a task actor per activation: neither its children nor the runner's record of
    ended actors may grow with every one it ever made."""
    monkeypatch.setattr("actors.runtime.runner.ENDED_KEPT", 2)
    host(runner, "p")
    for _ in range(3):
        runner.receiveMessage(
            Envelope(ref("p"), Do(lambda me: me.send(me.createActor(Probe), ActorExitRequest()))), WEB
        )
    assert not runner.hosted["p"].children
    assert list(runner.ended) == ["probe-leader/0-1", "probe-leader/0-2"]


def test_a_runner_on_a_worker_that_ends_ends_the_children_it_hosted(runner):
    parent = host(runner, "p")
    where = {"crucible.host": "w1", "crucible.joined": "t1"}
    runner.receiveMessage(
        Envelope(ref("p"), Do(lambda me: me.children.append(me.createActor(Probe, where)))), WEB
    )
    (child,) = parent.children
    assert child.runner == ActorAddress("made-on-w1") and child.runner_name.startswith("w1/")
    runner.receiveMessage(ChildActorExited(ActorAddress("made-on-w1")), WEB)
    assert parent.got[-1] == (ChildActorExited(child), child)
    assert runner.remote == {}


def test_slow_work_runs_off_the_mailbox_and_its_outcome_reaches_the_actor(runner):
    a = host(runner, "a")
    outcomes: list[Any] = []

    def start(me: Any) -> None:
        me.offload = me._myRef.offloader()
        me.offload.submit(lambda result, error: outcomes.append((result, error)), lambda x: x * 2, 21)

    runner.receiveMessage(Envelope(ref("a"), Do(start)), WEB)
    deadline = time.monotonic() + 5
    while not outcomes and time.monotonic() < deadline:
        runner.receiveMessage(WatchMessage([]), runner.myAddress)
        for msg, _ in a.got:
            if isinstance(msg, WatchMessage):
                a.offload.deliver()
        time.sleep(0.01)
    assert outcomes == [(42, None)]


def test_the_load_names_its_top_level_actors_and_counts_each_kind(runner):
    host(runner, "workspace:w")
    runner.receiveMessage(RunnerLoad(request_id="l"), WEB)
    load = runner._myRef.sent[-1][1]
    assert isinstance(load, RunnerLoaded)
    assert (load.top, load.hosted, load.mailbox) == (["workspace:w"], {"probe": 1}, 0)


@pytest.mark.parametrize(
    ("added", "now", "due"),
    [
        ([("a", 1.0), ("b", 0.5)], 0.6, ["b"]),
        ([("a", 1.0), ("b", 0.5)], 1.0, ["b", "a"]),
        ([("a", 0.5), ("b", 0.5)], 0.5, ["a", "b"]),  # equal times keep their order
        ([("a", 1.0)], 0.9, []),
    ],
)
def test_timers_fire_in_due_order(added, now, due):
    timers = Timers()
    for key, delay in added:
        timers.add(key, delay, key, now=0.0)
    assert [key for key, _, _ in timers.due(now=now)] == due
    assert len(timers) == len(added) - len(due)


def test_a_workspace_is_placed_by_its_name_alone():
    assert runner_for("workspace:default", 4) == runner_for("workspace:default", 4)
    assert {runner_for(f"workspace:{n}", 4) for n in range(40)} == {0, 1, 2, 3}


def wait_outcomes(pool: WorkPool, offloads: list[Offload], count: int) -> None:
    deadline = time.monotonic() + 10
    while sum(len(o.outcomes) for o in offloads) < count and time.monotonic() < deadline:
        pool.collect()
        time.sleep(0.01)


def test_one_actors_work_runs_one_piece_at_a_time_in_the_order_submitted():
    pool = WorkPool(threads=4)
    mine = Offload(pool, "a")
    ran: list[str] = []

    def slow() -> None:
        time.sleep(0.1)
        ran.append("slow")

    mine.submit(lambda *_: None, slow)
    mine.submit(lambda *_: None, lambda: ran.append("quick"))
    wait_outcomes(pool, [mine], 2)
    pool.close()
    assert ran == ["slow", "quick"]


def test_waiting_work_holds_no_thread():
    """Fifty actors' coroutines wait at once on a pool of two threads, and each gets its outcome."""
    pool = WorkPool(threads=2)
    offloads = [Offload(pool, f"t{i}") for i in range(50)]

    async def wait_then(value: int) -> int:
        await asyncio.sleep(0.2)
        return value

    for i, offload in enumerate(offloads):
        offload.submit(lambda *_: None, wait_then, i)
    time.sleep(0.1)
    assert len([t for t in threading.enumerate() if t.name.startswith("runner-work")]) <= 2
    wait_outcomes(pool, offloads, 50)
    pool.close()
    assert sorted(o.outcomes[0][1] for o in offloads) == list(range(50))
