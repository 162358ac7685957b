"""A lean page cache (actors/db.py `lean_page_cache`): connections no longer set aside room for pages
they never read, and the setting is refused, harmlessly, once SQLite is in use."""

import subprocess
import sys
import textwrap

from tests.server import ROOT

MEASURE = textwrap.dedent(
    """
    import _sqlite3, ctypes, sqlite3, sys, tempfile
    from pathlib import Path
    from actors import db
    lib = ctypes.CDLL(_sqlite3.__file__)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    applied = db.lean_page_cache() if sys.argv[1] == "lean" else None
    before, folder, conns = lib.sqlite3_memory_used(), Path(tempfile.mkdtemp()), []
    for i in range(50):
        conn = sqlite3.connect(folder / f"{i}.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)")
        conn.executemany("INSERT INTO events (data) VALUES (?)", [("x" * 200,)] * 10)
        conns.append(conn)
    print(applied, (lib.sqlite3_memory_used() - before) / 50 / 1024)
    """
)


def per_connection_kib(mode: str) -> tuple[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    applied, kib = done.stdout.split()
    return applied, float(kib)


def test_a_lean_cache_holds_each_connection_to_the_pages_it_uses():
    applied, lean = per_connection_kib("lean")
    _, default = per_connection_kib("default")
    assert applied == "True"
    assert lean < default - 40, (lean, default)  # the default sets aside 20 pages of 4 KiB at first read


def test_with_a_connection_open_it_changes_nothing_and_says_so(tmp_path):
    script = textwrap.dedent(
        f"""
        import sqlite3
        from actors import db
        conn = sqlite3.connect({str(tmp_path / "a.sqlite")!r})
        conn.execute("CREATE TABLE t (x)")
        print(db.lean_page_cache(), conn.execute("SELECT count(*) FROM t").fetchone()[0])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert (done.returncode, done.stdout.split()) == (0, ["False", "0"]), done.stderr
