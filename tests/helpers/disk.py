"""Disk failures as the code under test sees them."""

import sqlite3


def full_disk() -> sqlite3.OperationalError:
    """What SQLite raises when the disk is full."""
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL
    return exc
