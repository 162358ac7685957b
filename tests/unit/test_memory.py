"""Memory a runner need not hold (actors/runtime/memory.py): freed memory goes back once a while, however
many ask; a forked process shares the objects it inherited."""

import subprocess
import sys
import textwrap
import time

from actors.runtime import memory
from tests.server import ROOT


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


FORKED = textwrap.dedent(
    """
    import gc, os, sys
    from actors.runtime import memory
    objects = [{"n": i, "items": [i, str(i)]} for i in range(300_000)]  # tens of MiB of small containers
    if sys.argv[1] == "shared":
        memory.share_with_forks()
    child = os.fork()
    if child == 0:
        gc.collect()  # a full collection, as every actor process makes sooner or later
        rollup = open("/proc/self/smaps_rollup").read()
        dirty = int(rollup.split("Private_Dirty:")[1].split()[0])
        os.write(1, str(dirty).encode())
        os._exit(0)
    os.waitpid(child, 0)
    """
)


def private_kib_after_a_collection(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", FORKED, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_a_forked_process_shares_the_objects_frozen_before_the_fork():
    """Its collector would otherwise touch, and so copy, every page of them."""
    copied = private_kib_after_a_collection("copied")
    shared = private_kib_after_a_collection("shared")
    assert shared * 3 < copied, (shared, copied)
