"""The run's context (command, machine, date), percentiles, Markdown tables and JSON results: the parts of a
report every benchmark prints the same way. Standard library and psutil only (see __init__.py)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
NaN = float("nan")


def _context() -> dict[str, Any]:
    """Read once, at import (the start of the run): what the figures depend on besides the code."""
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    machine = {
        "nproc": os.cpu_count(),
        "RAM GiB": round(psutil.virtual_memory().total / 2**30, 1),
        "CPU": cpu or platform.processor() or "?",
        "Python": platform.python_version(),
        "load average at start": [round(x, 2) for x in os.getloadavg()],
    }
    command = "PYTHONPATH=. python " + shlex.join([shown, *sys.argv[1:]])
    return {"command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}


CONTEXT = _context()


def header(title: str) -> str:
    m = CONTEXT["machine"]
    load = " ".join(map(str, m["load average at start"]))
    return (
        f"# {title}\n\nCommand: `{CONTEXT['command']}`  \n"
        f"Machine: nproc {m['nproc']}, {m['RAM GiB']} GiB RAM, {m['CPU']}, Python {m['Python']}; "
        f"load average {load} at start  \nDate: {CONTEXT['date']}\n"
    )


def report(name: str, title: str, body: str, results: Any, leftovers: list[str] | None = None) -> None:
    """Print the header, `body` (the tables) and the processes left over; write bench/results/<name>.json
    with the same context."""
    print(header(title))
    print(body)
    if leftovers is not None:
        print(f"\nLeft-over processes: {'; '.join(leftovers) or 'none'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    extra = {"leftover processes": leftovers} if leftovers is not None else {}
    out.write_text(json.dumps({**CONTEXT, "results": results, **extra}, indent=2, default=str))
    print(f"\nJSON: {out.relative_to(ROOT)}")


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1-99), interpolated between ranks (statistics' inclusive method)."""
    if len(values) < 2:
        return float(values[0]) if values else NaN
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def median(values: Iterable[float]) -> float:
    """Median of the values that are numbers: a NaN stands for a run that did not finish, counted apart."""
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else NaN


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per key, the median over the runs (the numeric keys of the first run)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: median(run[k] for run in runs) for k in keys}


def fmt(value: Any) -> str:
    """A cell: a float to about three significant figures; None and NaN as a dash."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(fmt, row)) + " |" for row in rows])


def records(rows: Sequence[dict[str, Any]]) -> str:
    """A table of dicts that share their keys: the keys are the header."""
    return table(list(rows[0]), [list(row.values()) for row in rows]) if rows else "(no rows)"


COUNTS = ("error", "duplicate", "lost", "not complete", "in flight", "processes,")


def compare(
    figures: dict[str, dict[str, list[float]]],
    labels: Sequence[str],
    ratios: Sequence[tuple[str, str]],
    counts: Sequence[str] = COUNTS,
) -> str:
    """A table of figure by system (the median of its runs) with each ratio a ÷ b of medians. A figure whose
    name holds one of `counts` ("processes, <when>" from systems.memory) is a count: its cell adds the worst
    run, and it gets no ratio."""

    def cell(values: list[float] | None, count: bool) -> str:
        if not values:
            return "—"
        text = f"{median(values):.0f}" if count else fmt(median(values))
        text += f" (max {max(values):.0f})" if count and len(values) > 1 else ""
        failed = sum(1 for v in values if v != v)
        return text + (f" ({failed} run(s) timed out)" if failed else "")

    def ratio(by: dict[str, list[float]], a: str, b: str) -> str:
        if not (by.get(a) and by.get(b)) or not median(by[b]):
            return "—"
        return fmt(median(by[a]) / median(by[b])) + "x"

    runs = max((len(v) for by in figures.values() for v in by.values()), default=0)
    rows = []
    for key, by in figures.items():
        count = any(word in key for word in counts)
        shown = ["—" if count else ratio(by, a, b) for a, b in ratios]
        rows.append([key, *(cell(by.get(label), count) for label in labels), *shown])
    heads = [f"figure (median of {runs} run(s))", *labels, *(f"{a} ÷ {b}" for a, b in ratios)]
    return table(heads, rows)
