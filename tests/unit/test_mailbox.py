"""A runner's mailbox (actors/runtime/mailbox.py): the web's requests first, each pair's order kept."""

from actors.runtime.mailbox import REQUESTS_PER_OTHER, Mailbox
from actors.runtime.refs import Ref


def ref(key: str) -> Ref:
    return Ref(None, "runner:0", key)


def item(to: str, msg: str, sender: object) -> tuple[str, str, object, float]:
    return (to, msg, sender, 0.0)


def drain(box: Mailbox) -> list[str]:
    taken = []
    while box:
        taken.append(box.take()[1])
        box.handled()
    return taken


def test_a_request_is_handled_before_the_messages_already_waiting():
    box = Mailbox()
    for n in range(3):
        box.put(item("task", f"outcome {n}", ref("task")))
    box.put(item("workspace", "create", "door"), request=True)
    assert drain(box) == ["create", "outcome 0", "outcome 1", "outcome 2"]


def test_what_a_request_sends_on_goes_first_too():
    box = Mailbox()
    box.put(item("task", "outcome", ref("task")))
    box.put(item("workspace", "create", "door"), request=True)
    assert box.take()[1] == "create"
    box.put(item("project", "create", ref("workspace")))  # sent while the request is in hand
    box.handled()
    box.put(item("cluster", "later", ref("workspace")))  # sent after, to another actor
    assert drain(box) == ["create", "outcome", "later"]


def test_a_send_never_overtakes_an_earlier_message_of_the_same_sender_to_the_same_actor():
    box = Mailbox()
    box.put(item("project", "first", ref("workspace")))
    box.put(item("workspace", "create", "door"), request=True)
    assert box.take()[1] == "create"
    box.put(item("project", "second", ref("workspace")))  # same pair as "first": stays behind it
    box.put(item("cluster", "place", ref("workspace")))  # another pair: may go first
    box.handled()
    assert drain(box) == ["place", "first", "second"]


def test_once_the_last_message_of_a_pair_is_taken_its_next_may_go_first_again():
    box = Mailbox()
    box.put(item("project", "first", ref("workspace")))
    assert box.take()[1] == "first"
    box.handled()
    box.put(item("other", "noise", ref("x")))
    box.put(item("workspace", "create", "door"), request=True)
    assert box.take()[1] == "create"
    box.put(item("project", "second", ref("workspace")))
    box.handled()
    assert drain(box) == ["second", "noise"]


def test_messages_from_outside_the_runner_keep_their_place():
    """Only hosted actors' sends follow a request: a timer or an outcome has no pair to keep in order."""
    box = Mailbox()
    box.put(item("task", "outcome", ref("task")))
    box.put(item("workspace", "create", "door"), request=True)
    box.take()
    box.put(item("task", "wakeup", "runner's own address"))
    box.handled()
    assert drain(box) == ["outcome", "wakeup"]
    assert len(box) == 0


def test_a_stream_of_requests_lets_one_other_message_through_every_few():
    box = Mailbox()
    box.put(item("task", "outcome", ref("task")))
    for n in range(REQUESTS_PER_OTHER + 2):
        box.put(item("workspace", f"create {n}", "door"), request=True)
    taken = drain(box)
    assert taken.index("outcome") == REQUESTS_PER_OTHER
    assert [t for t in taken if t != "outcome"] == [f"create {n}" for n in range(REQUESTS_PER_OTHER + 2)]


def test_a_pair_whose_message_waits_among_requests_stays_there_after_the_request():
    """Else the other lane, served between requests, could hand the actor the later message first."""
    box = Mailbox()
    box.put(item("other", "noise", ref("x")))
    for n in range(3 * REQUESTS_PER_OTHER):  # the other lane is served twice before "first"
        box.put(item("workspace", f"create {n}", "door"), request=True)
    assert box.take()[1] == "create 0"
    box.put(item("project", "first", ref("workspace")))  # follows the request, behind the creates
    box.handled()
    box.put(item("project", "second", ref("workspace")))  # no request in hand, but its pair waits there
    taken = drain(box)
    assert taken.index("noise") < taken.index("first") < taken.index("second")
