"""Thespian's cost per message: what a message between two runners, or two hosts, costs.

    PYTHONPATH=. .venv/bin/python bench/transport.py [--runs 3] [--trips 2000]

Messages between the actors of one runner never touch thespian; those between runners and hosts, and the
admin script's asks, are thespian messages. Two actors pass a message back and forth (a round trip: two
messages, each acknowledged by thespian's TCP transport) after the echoing one has answered `held` other
actors, so that it holds that many sockets (thespian's transport loop walks every socket it holds at each
turn). Each measure runs in a child process of its own group, with its own actor system, and the group is
killed after it; thespian 4.0.1 as Crucible runs it (bound to loopback). Figures: CPU time of the whole
machine per round trip (from /proc/stat: run it on an otherwise idle machine) and wall time per round
trip; the median of the runs. Prints a Markdown table and writes bench/results/transport.json. Nothing
is asserted.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from thespian.actors import Actor, ActorSystem

# Not bench.harness.systems: the child that measures (and the actors it forks, which import this module
# again) loads only thespian and the loopback bind. report.py imports no actors.
from bench.harness.report import ROOT, median, report, table

HELD = (0, 30, 60)


class Echo(Actor):  # type: ignore[misc]
    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, (int, str)):
            self.send(sender, msg)


class Caller(Actor):  # type: ignore[misc]
    """Gets one answer from the echo: a socket the echo then holds."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, tuple) and msg[0] == "call":
            self.send(msg[1], "hello")


class Driver(Actor):  # type: ignore[misc]
    """Round trips with the echo, one after the other; answers the asker with their count."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, tuple) and msg[0] == "go":
            self.asker, self.echo, self.left, self.done = sender, msg[1], msg[2], 0
            self.send(self.echo, 0)
        elif isinstance(msg, int):
            self.done += 1
            if self.done < self.left:
                self.send(self.echo, msg + 1)
            else:
                self.send(self.asker, self.done)


def child(held: int, trips: int, port: int, logs: Path) -> dict[str, float]:
    """Runs in its own process: one actor system, `trips` round trips, the machine's CPU meanwhile."""
    from actors.runtime import loopback  # noqa: F401  (every socket on loopback, as in the product)

    os.environ["THESPLOG_FILE"] = str(logs / "thespian-internal.log")
    log_defs = {
        "version": 1,
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(logs / "thespian.log")}},
        "root": {"handlers": ["file"], "level": "WARNING"},
    }
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": port}, logDefs=log_defs, transientUnique=True)
    try:
        echo = asys.createActor("bench.transport.Echo")
        for _ in range(held):
            asys.tell(asys.createActor("bench.transport.Caller"), ("call", echo))
        asys.ask(echo, "sync", 30)
        time.sleep(1.0)  # the callers' sockets settle into the echo's idle ones
        driver = asys.createActor("bench.transport.Driver")
        busy = _machine_busy()
        started = time.perf_counter()
        assert asys.ask(driver, ("go", echo, trips), 600) == trips
        wall = time.perf_counter() - started
        busy_after = _machine_busy()
    finally:
        asys.shutdown()
    hz = os.sysconf("SC_CLK_TCK")
    return {"cpu_us": (busy_after - busy) / hz / trips * 1e6, "wall_us": wall / trips * 1e6}


def _machine_busy() -> int:
    """Clock ticks every CPU has spent busy since boot (all but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4]


def run_child(held: int, trips: int, workdir: Path) -> dict[str, float]:
    from bench.harness.systems import free_port, kill_group, naming, spawn_group  # the parent only

    out = workdir / f"{held}.json"
    cmd = [sys.executable, "-m", "bench.transport", "--child", str(held), str(trips)]
    cmd += [str(free_port()), str(out)]
    log = workdir / f"{held}.log"
    proc = spawn_group(cmd, ROOT, None, log)
    try:
        proc.wait(timeout=900)
    finally:
        kill_group(proc.pid, signal.SIGKILL)
        for left in naming(str(out)):  # actors leave the group (daemonized) but keep the child's command line
            print(f"left behind, killed: {left.pid}", flush=True)
            left.kill()
    if not out.exists():
        raise RuntimeError(f"{held} sockets: no figures; its log:\n{log.read_text()[-2000:]}")
    figures: dict[str, float] = json.loads(out.read_text())
    return figures


def summary(results: dict[str, dict[str, list[float]]]) -> str:
    rows = [
        [held, median(results[str(held)]["cpu_us"]), median(results[str(held)]["wall_us"])] for held in HELD
    ]
    return table(["sockets held by the echo", "CPU µs per round trip", "wall µs per round trip"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        held, trips, port, out = args.child
        with tempfile.TemporaryDirectory(prefix="crucible-transport-") as logs:
            figures = child(int(held), int(trips), int(port), Path(logs))
        Path(out).write_text(json.dumps(figures))
        return
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="crucible-transport-") as workdir:
        for run in range(args.runs):
            for held in HELD:
                figures = run_child(held, args.trips, Path(workdir))
                print(f"run {run + 1}, {held} sockets: {figures}", flush=True)
                for name, value in figures.items():
                    results.setdefault(str(held), {}).setdefault(name, []).append(value)
    title = f"Thespian's cost per message: median of {args.runs} run(s), {args.trips} round trips each"
    report("transport", title, summary(results), {"runs": args.runs, "trips": args.trips, "results": results})


if __name__ == "__main__":
    main()
