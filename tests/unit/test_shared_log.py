"""SharedLog: the actors' log file, appended to by many processes, kept to a bounded size."""

import json
import multiprocessing
from pathlib import Path

import structlog

from actors import logs
from actors.logs import SharedLog
from schemas.settings import Settings


def kept(path: Path) -> list[Path]:
    """The log's files, oldest first."""
    rolled = sorted(path.parent.glob(f"{path.name}.*[0-9]"), key=lambda p: -int(p.suffix[1:]))
    return [*rolled, path] if path.exists() else rolled


def lines_of(path: Path) -> list[str]:
    return [line for f in kept(path) for line in f.read_text().splitlines()]


def test_two_writers_roll_the_file_once_per_size_and_keep_the_newest_lines_in_order(tmp_path):
    """Each roll is done by one writer; the other reopens the new file; what is kept is the newest lines,
    each whole, once, in the order written, in at most `keep` + 1 files."""
    path = tmp_path / "actors.log"
    writers = [SharedLog(path, max_bytes=300, keep=2), SharedLog(path, max_bytes=300, keep=2)]
    for n in range(200):
        writers[n % 2].write(f"line {n:04d}\n")
    assert [f.name for f in kept(path)] == ["actors.log.2", "actors.log.1", "actors.log"]
    seen = [int(line.split()[1]) for line in lines_of(path)]
    assert seen == list(range(seen[0], 200)) and seen[0] > 100  # a run of the newest, nothing repeated
    assert all(f.stat().st_size <= 300 + 2 * len("line 0000\n") for f in kept(path))


def _write_lines(path: Path, who: int, count: int) -> None:
    log = SharedLog(path, max_bytes=20_000, keep=3)
    for n in range(count):
        log.write(json.dumps({"who": who, "n": n, "pad": "x" * 100}) + "\n")


def test_lines_of_concurrent_processes_never_interleave_across_rolls(tmp_path):
    """Four processes write at once through many rolls: every kept line parses, none is repeated, each
    process's lines are kept in its order, and the last line written is kept."""
    path = tmp_path / "actors.log"
    procs = [multiprocessing.Process(target=_write_lines, args=(path, who, 2000)) for who in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    entries = [json.loads(line) for line in lines_of(path)]  # a torn line would not parse
    assert len(kept(path)) == 4 and len(entries) < 4 * 2000  # rolled, and the oldest dropped
    for who in range(4):
        mine = [e["n"] for e in entries if e["who"] == who]
        assert mine == sorted(set(mine))
    assert entries[-1]["n"] == 1999


def test_an_actor_logs_json_lines_to_the_shared_log_of_its_settings(tmp_path):
    """configure_actor: structlog's lines go to <data>/logs/actors.log, rolled at log_max_mb."""
    settings = Settings(data_dir=tmp_path, log_max_mb=1, log_keep=1)
    try:
        logs.configure_actor(settings)
        log = logs.get(actor="task", task_id="t1")
        for n in range(12_000):  # ~1.3 MB of lines
            log.info("step.start", n=n)
    finally:
        structlog.reset_defaults()
    path = tmp_path / "logs" / "actors.log"
    assert [f.name for f in kept(path)] == ["actors.log.1", "actors.log"]
    entries = [json.loads(line) for line in lines_of(path)]
    assert entries[-1]["n"] == 11_999 and entries[-1]["task_id"] == "t1"
