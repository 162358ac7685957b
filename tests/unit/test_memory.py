"""Giving freed memory back (actors/runtime/memory.py): once a while, however many ask."""

import time

from actors.runtime import memory


def test_many_asks_at_once_make_one_release_a_moment_later(monkeypatch):
    released: list[float] = []
    monkeypatch.setattr(memory, "AFTER_S", 0.05)
    monkeypatch.setattr(memory, "_timer", None)  # one armed by another test's store is not this test's
    monkeypatch.setattr(memory, "release", lambda: released.append(time.monotonic()))
    asked = time.monotonic()
    for _ in range(100):
        memory.release_soon()
    deadline = time.monotonic() + 5
    while not released and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(released) == 1 and released[0] - asked >= 0.05
    memory.release_soon()  # once it has run, the next ask arms another
    time.sleep(0.2)
    assert len(released) == 2
