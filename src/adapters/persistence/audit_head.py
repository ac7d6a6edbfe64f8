"""The audit chain's head as this process last committed it, so that a write that directly
follows this process's own last write links to it without reading the head back.

Why it is safe: both recorders write the chain rows in the events' transaction while they hold
the store's single write lock (SQLite's database lock, the library's EXCLUSIVE lock on the
PostgreSQL events table), and the events' positions are taken under that lock, so positions
grow in commit order. If the first position of a new write is the last position this process
committed plus one, no other transaction committed an event in between: the chain's head is
the row this process wrote last. Any gap (another writer, a rolled-back insert that used up a
position, a restore) and the head is read from the table as before.

Why: on PostgreSQL that read is a round trip of its own inside the locked transaction (issue 13's
append benchmark); on SQLite a statement. A head is remembered only after its transaction
committed (``writing``), never from a transaction that may still roll back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from adapters.persistence.audit_hashing import ChainRow


class CommittedHead:
    """The last (position, seq, chain hash) this process committed, and each thread's staged
    head of the write it is making."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: tuple[int, int, str] | None = None
        self._staged = threading.local()

    def before(self, positions: Sequence[int] | None) -> tuple[int, str] | None:
        """The head (seq, chain hash) a write at these positions links to, if it follows this
        process's last committed write directly; None: read it from the table."""
        known = self._known
        if not positions or known is None or positions[0] != known[0] + 1:
            return None
        return known[1], known[2]

    def stage(self, positions: Sequence[int] | None, rows: Sequence[ChainRow]) -> None:
        """The head this thread's write makes, remembered once it commits."""
        self._staged.head = (
            (positions[-1], rows[-1].seq, rows[-1].chain_hash) if positions and rows else None
        )

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a recorder's insert: the staged head is remembered if it commits, forgotten
        if it raises."""
        try:
            yield
        except BaseException:
            self._staged.head = None
            raise
        self._committed()

    def _committed(self) -> None:
        # The newest wins when two threads' commits are noted out of order.
        staged: tuple[int, int, str] | None = getattr(self._staged, "head", None)
        self._staged.head = None
        if staged is None:
            return
        with self._lock:
            if self._known is None or staged[0] > self._known[0]:
                self._known = staged
