"""A connection to a SQLite file for one thread's own use, outside the library's pool (the
recorder's per-thread readers, the WAL checkpointer's thread)."""

from __future__ import annotations

import sqlite3


def own_connection(database: str, timeout: float) -> sqlite3.Connection:
    """Autocommit (each statement is a transaction of its own), and closable by any thread
    (the store's close), though only the thread that opened it uses it."""
    return sqlite3.connect(
        database, uri=True, isolation_level=None, timeout=timeout, check_same_thread=False
    )
