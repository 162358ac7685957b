"""Thespian's cost per message, as shipped and as Crucible tunes it (actors/thespian_tuning.py), side by side.

    PYTHONPATH=. .venv/bin/python bench/transport.py [--runs 3] [--trips 2000]

Every create and every provisioning step is a few thespian messages, so this is the floor under all of
Crucible's figures. Two actors pass a message back and forth (a round trip: two messages, each
acknowledged by thespian's TCP transport) after the echoing one has answered `held` other actors, so that
it holds that many sockets, as the workspace actor does (one per bridge thread, its projects, ...). Each
configuration runs in a child process of its own group, with its own actor system, and the group is killed
after it: thespian 4.0.1 as shipped (only the loopback bind) against the tuned one, in alternation.
Figures: CPU time of the whole machine per round trip (from /proc/stat: run it on an otherwise idle
machine) and wall time per round trip; the median of the runs. Prints a Markdown table and writes
bench/results/transport.json. Nothing is asserted.
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

# Not bench.harness.systems: it imports actors, whose tuning must not reach the child that measures thespian
# as shipped (nor the actors it forks, which import this module again). report.py imports no actors.
from bench.harness.report import ROOT, median, report, table

HELD = (0, 30, 60)
CONFIGS = ("shipped", "tuned")


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


def child(config: str, held: int, trips: int, port: int, logs: Path) -> dict[str, float]:
    """Runs in its own process: one actor system, `trips` round trips, the machine's CPU meanwhile."""
    from actors import loopback  # noqa: F401  (every socket on loopback, as in the product)

    if config == "tuned":
        from actors import thespian_tuning  # noqa: F401

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


def run_child(config: str, held: int, trips: int, workdir: Path) -> dict[str, float]:
    from bench.harness.systems import free_port, kill_group, naming, spawn_group  # the parent only

    out = workdir / f"{config}-{held}.json"
    cmd = [sys.executable, "-m", "bench.transport", "--child", config, str(held), str(trips)]
    cmd += [str(free_port()), str(out)]
    log = workdir / f"{config}-{held}.log"
    proc = spawn_group(cmd, ROOT, None, log)
    try:
        proc.wait(timeout=900)
    finally:
        kill_group(proc.pid, signal.SIGKILL)
        for left in naming(str(out)):  # actors leave the group (daemonized) but keep the child's command line
            print(f"left behind, killed: {left.pid}", flush=True)
            left.kill()
    if not out.exists():
        raise RuntimeError(f"{config}, {held} sockets: no figures; its log:\n{log.read_text()[-2000:]}")
    figures: dict[str, float] = json.loads(out.read_text())
    return figures


def summary(results: dict[str, dict[str, list[float]]]) -> str:
    rows = []
    for held in HELD:
        cpu = {c: median(results[f"{c}-{held}"]["cpu_us"]) for c in CONFIGS}
        wall = {c: median(results[f"{c}-{held}"]["wall_us"]) for c in CONFIGS}
        rows.append([held, cpu["shipped"], cpu["tuned"], f"{cpu['tuned'] / cpu['shipped']:.2f}x"])
        rows[-1] += [wall["shipped"], wall["tuned"]]
    heads = ["sockets held by the echo", "CPU µs per round trip: shipped", "tuned", "tuned ÷ shipped"]
    return table([*heads, "wall µs per round trip: shipped", "tuned"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config, held, trips, port, out = args.child
        with tempfile.TemporaryDirectory(prefix="crucible-transport-") as logs:
            figures = child(config, int(held), int(trips), int(port), Path(logs))
        Path(out).write_text(json.dumps(figures))
        return
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="crucible-transport-") as workdir:
        for run in range(args.runs):
            for held in HELD:
                order = CONFIGS if run % 2 == 0 else CONFIGS[::-1]
                for config in order:
                    figures = run_child(config, held, args.trips, Path(workdir))
                    print(f"run {run + 1}, {held} sockets, {config}: {figures}", flush=True)
                    for name, value in figures.items():
                        results.setdefault(f"{config}-{held}", {}).setdefault(name, []).append(value)
    title = f"Thespian's cost per message: median of {args.runs} run(s), {args.trips} round trips each"
    report("transport", title, summary(results), {"runs": args.runs, "trips": args.trips, "results": results})


if __name__ == "__main__":
    main()
