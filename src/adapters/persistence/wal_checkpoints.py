"""SQLite's WAL checkpoints on a thread of the store's own instead of in a command's commit.

In WAL mode SQLite copies the log back into the database file (a checkpoint) once the log has
passed 1,000 pages, in the commit that passed it: that commit then writes and syncs the pages of
a hundred or so earlier commits, several milliseconds with the write lock held, and a command
pays for them. Here a thread runs a PASSIVE checkpoint shortly after each batch of writes, on a
connection of its own, so that commits seldom reach that mark; SQLite's checkpoint in the commit
stays as the backstop should the thread fall behind or stop. A PASSIVE checkpoint waits for no
reader or writer. One that fails is logged and tried again after the next batch; nothing that
was committed depends on it (the log holds it until a checkpoint copies it). The figures are in
docs/benchmarks.md (seventh session).
"""

from __future__ import annotations

import sqlite3
import threading

import structlog

from adapters.persistence.sqlite_connections import own_connection

log = structlog.get_logger("doseledger.storage")

# A checkpoint waits for this many commits (a few hundred pages of log): a store written now and
# then (a test's, a quiet site's) leaves them to SQLite's own checkpoint or to its last close.
BATCH_COMMITS = 32
# How long after a batch the thread waits for more before it checkpoints: a busy service's
# commits (hundreds a second) are copied back a batch or two at a time.
GATHER_SECONDS = 0.05


class WalCheckpointer:
    """Checkpoints one SQLite file's WAL after writes (module docstring). ``wrote`` after each
    commit; ``close`` when the store is closed."""

    def __init__(self, database: str, timeout: float, gather: float = GATHER_SECONDS) -> None:
        self.database = database
        self.timeout = timeout
        self.gather = gather
        # The latest checkpoint's (busy, frames in the log, frames copied), and how many ran.
        self.last: tuple[int, int, int] | None = None
        self.checkpoints = 0
        self._commits = 0  # since the thread last started a checkpoint (a lost count: later)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """Note a commit: a checkpoint follows ``gather`` seconds after a batch of them."""
        self._commits += 1
        if self._commits < BATCH_COMMITS:
            return
        if self._thread is None:
            self._start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        self._closed.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            thread = threading.Thread(
                target=self._run, name="doseledger-wal-checkpoints", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: the commit is not to fail for it
                log.warning(
                    "wal checkpoint thread not started",
                    database=self.database,
                    error=str(exc),
                    retry="after the next batch of commits",
                )
                return
            self._thread = thread

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                # Cleared before ``_closed`` is looked at: ``close`` sets that first, so a
                # close is never missed (its wake cleared here finds it set).
                self._wake.clear()
                self._commits = 0
                if self._closed.wait(self.gather):  # closed, now or while writes gathered
                    return
                connection = self._checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One PASSIVE checkpoint; the connection to use next time (None: open a new one)."""
        try:
            if connection is None:
                connection = own_connection(self.database, self.timeout)
            busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning(
                "wal checkpoint failed",
                database=self.database,
                error=str(exc),
                retry="after the next batch of commits",
            )
            if connection is not None:
                connection.close()
            return None
        self.last = (int(busy), int(frames), int(copied))
        self.checkpoints += 1
        return connection
