"""Finding a task's agent server among the machine's processes (actors/providers/agent_process.py)."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.providers import agent_process as agents

TASK = "t" * 22


@pytest.fixture(params=["sandbox-agent", "my-own-sandbox-agent"])
def fake_agent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that looks like an agent server of TASK: `<binary> server`, run in the task's sandbox
    with its marker. The binary is Python under another name; "my-own-sandbox-agent" is longer than the
    15 bytes the kernel keeps of a process's name, so its name there is cut before "sandbox-agent"."""
    binary = tmp_path / "bin" / request.param
    binary.parent.mkdir()
    binary.symlink_to(os.path.realpath(sys.executable))
    sandbox = tmp_path / "sandboxes" / TASK
    sandbox.mkdir(parents=True)
    (sandbox / "server").write_text("import time\ntime.sleep(60)\n")  # what `python server` runs
    env = {**os.environ, agents.MARKER_ENV: TASK}
    proc = subprocess.Popen([str(binary), "server"], cwd=sandbox, env=env)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_an_agent_server_is_found_by_its_marker_whatever_its_binarys_name(fake_agent, tmp_path):
    """The scan reads only the processes whose name in /proc may be an agent's: it still finds one
    started under a name the kernel cut short, and tells it by its sandbox and marker."""
    sandboxes = tmp_path / "sandboxes"
    for _ in range(100):  # until the child has exec'd (its name changes then)
        if agents.find(TASK, sandboxes / TASK):
            break
        time.sleep(0.02)
    assert [proc.pid for proc in agents.find(TASK, sandboxes / TASK)] == [fake_agent.pid]
    assert agents.live_task_ids(sandboxes) == {TASK}
    assert agents.find("u" * 22, sandboxes / TASK) == []


def test_only_a_checkout_or_a_vanished_sandbox_could_have_had_an_agent(tmp_path):
    """Start-up reads a running task's record to revive its agent unless its sandbox says it never had
    one (the sim provider's plain directory); a vanished checkout must still be read (revive → error)."""
    checkout, plain = tmp_path / "checkout", tmp_path / "plain"
    (checkout / ".git").mkdir(parents=True)
    plain.mkdir()
    assert agents.could_have_agent(checkout)
    assert agents.could_have_agent(tmp_path / "vanished")
    assert not agents.could_have_agent(plain)
