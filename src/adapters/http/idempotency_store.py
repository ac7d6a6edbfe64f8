"""The Idempotency-Key table: claims, leases, owner locks and kept answers.

A claim's owner is alive while it renews its lease (``extend``); a process that dies stops
renewing and its claim is taken over once the lease has run out. On PostgreSQL the owner also
holds a session-level advisory lock on the key (``pg_try_advisory_lock``) on this table's
connection, which PostgreSQL frees the moment the owner's session ends (a killed process's
socket closes). A retry that can take that lock knows at once that no live process runs the
request: it takes a ``claimed`` key over, or is told a ``committed`` one was recorded,
without waiting out the lease (before, a retry on a surviving instance waited 10 s, answered
409 "in progress", and kept doing so for the 30 s of the lease: with a client's few retries,
for ever). Session locks are re-entrant within a session, so this process's own claims are
kept in ``_held``: a second request with a key this process runs waits like any other.

The lock only speeds up what the lease already makes safe: an owner whose connection dropped
(its lock lost while it still runs) is fenced by its token when it commits
(``adapters.persistence.claim_fence``). A connection that failed is closed and opened again on
the next use (its locks are gone then, and ``_held`` with them).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import structlog

from adapters.persistence.unavailable import database_unavailable
from projections.store import Store, Transaction, open_store

TTL_SECONDS = 86_400
LEASE_SECONDS = 30
log = structlog.get_logger("doseledger.http")


@dataclass(frozen=True)
class Record:
    """One key's row: the request it stands for and, once answered, its response."""

    fingerprint: str
    state: str  # "claimed", "committed" (events recorded, not answered) or "answered"
    token: str
    lease_until: float
    expires_at: float
    status: int | None
    body: str | None
    headers: dict[str, str]
    # No live process holds the key: its lease ran out, or its owner's session ended.
    owner_gone: bool = False


_COLUMNS = "fingerprint, state, token, lease_until, expires_at, status, body, headers"


def _table_of(store: Store) -> str:
    if store.dialect == "postgres":
        return f'"{getattr(store, "schema", "public")}"."doseledger_idempotency_keys"'
    return "idempotency_keys"


class IdempotencyStore:
    """The idempotency table in the ledger's database (blocking calls, thread-safe).

    Opened on first use (most apps never see an Idempotency-Key); the table is created
    idempotently then.
    """

    def __init__(
        self,
        env: Any,
        *,
        ttl_seconds: float = TTL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.env = dict(env)
        self.ttl = ttl_seconds
        self.lease = lease_seconds
        self.clock = clock
        self._store: Store | None = None
        self._lock = threading.Lock()
        # Opening is serialised: requests arriving together at first use each opened a
        # connection, the last one kept, and the others (closed when dropped) took their
        # sessions' owner locks with them while their requests ran.
        self._opening = threading.Lock()
        # The keys whose owner lock this process holds, with the token of the claim it is for.
        self._held: dict[tuple[str, str], str] = {}

    @property
    def table(self) -> str:
        """The table's SQL name (schema-qualified in PostgreSQL)."""
        return _table_of(self._open())

    def _open(self) -> Store:
        store = self._store
        if store is not None:
            return store
        with self._opening:
            if self._store is not None:  # opened by another thread meanwhile
                return self._store
            store = open_store(self.env)
            real = "DOUBLE PRECISION" if store.dialect == "postgres" else "REAL"
            try:
                with self._lock, store.transaction() as tx:
                    store.schema_lock(tx)
                    tx.execute(
                        f"CREATE TABLE IF NOT EXISTS {_table_of(store)} ("
                        "principal TEXT NOT NULL, idem_key TEXT NOT NULL, "
                        "fingerprint TEXT NOT NULL, state TEXT NOT NULL, token TEXT NOT NULL, "
                        f"lease_until {real} NOT NULL, expires_at {real} NOT NULL, "
                        "status INTEGER, body TEXT, headers TEXT, "
                        "PRIMARY KEY (principal, idem_key))"
                    )
                    self._held.clear()  # a new session holds no lock
                    self._store = store  # in use only once its table is there
            except BaseException:
                with suppress(Exception):
                    store.close()
                raise
        return store

    @contextmanager
    def _tx(self) -> Iterator[Transaction]:
        assert self._store is not None
        with self._lock:
            try:
                with self._store.transaction() as tx:
                    yield tx
            except Exception as exc:
                if database_unavailable(exc):
                    self._drop_connection()
                raise

    def _drop_connection(self) -> None:
        """Forget a connection that failed (called with ``_lock`` held): the next use opens
        a new one."""
        if self._store is not None:
            with suppress(Exception):
                self._store.close()
            self._store = None
        self._held.clear()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction on the table's database (``?`` placeholders)."""
        self._open()
        with self._tx() as tx:
            yield tx

    @property
    def _owner_locks(self) -> bool:
        return self._open().dialect == "postgres"

    def _try_owner_lock(self, tx: Transaction, principal: str, key: str) -> bool:
        """Take the key's owner lock when no session holds it (PostgreSQL); else False."""
        if not self._owner_locks or (principal, key) in self._held:
            return False
        row = tx.fetchone(
            "SELECT pg_try_advisory_lock(hashtextextended(?, 0))",
            (self._lock_name(principal, key),),
        )
        return bool(row and row[0])

    def _unlock(self, tx: Transaction, principal: str, key: str, token: str | None) -> None:
        """Give the owner lock up: the claim of ``token`` (None: one just taken) is over."""
        if token is not None and self._held.get((principal, key)) != token:
            return
        self._held.pop((principal, key), None)
        tx.execute(
            "SELECT pg_advisory_unlock(hashtextextended(?, 0))", (self._lock_name(principal, key),)
        )

    def _lock_name(self, principal: str, key: str) -> str:
        # The table names the schema: tests and deployments sharing a database do not collide.
        return f"{self.table}|{principal}|{key}"

    def load(self, principal: str, key: str) -> Record | None:
        """The unexpired record of a key, if any."""
        with self.transaction() as tx:
            return self._select(tx, principal, key)

    def _select(
        self, tx: Transaction, principal: str, key: str, *, live: bool = True
    ) -> Record | None:
        row = tx.fetchone(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE principal = ? AND idem_key = ?",
            (principal, key),
        )
        if row is None or (live and row[4] < self.clock()):
            return None
        return Record(
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7] or "{}")
        )

    def claim(self, principal: str, key: str, print_: str) -> str | Record:
        """A token when this request now owns the key (a new key, an expired record, or a
        claim whose owner is gone, with the same body); else the key's record."""
        now = self.clock()
        token = uuid.uuid4().hex
        with self.transaction() as tx:
            tx.execute(f"DELETE FROM {self.table} WHERE expires_at < ?", (now,))
            tx.execute(
                f"INSERT INTO {self.table} (principal, idem_key, fingerprint, state, token, "
                "lease_until, expires_at) VALUES (?, ?, ?, 'claimed', ?, ?, ?) "
                "ON CONFLICT (principal, idem_key) DO NOTHING",
                (principal, key, print_, token, now + self.lease, now + self.ttl),
            )
            if tx.cursor.rowcount == 1:
                if self._try_owner_lock(tx, principal, key):
                    self._held[(principal, key)] = token
                return token
            # It exists: the INSERT conflicted, after expired rows were purged. The owner lock
            # is tried before the row is read: an owner gives it up only once its answer is
            # committed, so a row read after the lock was taken shows that answer. (Read first,
            # the row could still say 'committed' of an owner that then answered and unlocked:
            # a retry was told the request's process had stopped while it was answering.)
            locked = self._try_owner_lock(tx, principal, key)
            record = self._select(tx, principal, key, live=False)
            assert record is not None
            if record.state == "answered" or record.fingerprint != print_:
                if locked:
                    self._unlock(tx, principal, key, None)
                return record
            gone = locked or record.lease_until < now
            if gone and record.state == "claimed":
                # "still claimed" is checked again by the UPDATE itself: the owner's events
                # transaction may have marked it committed since the SELECT (PostgreSQL's READ
                # COMMITTED re-reads the row after waiting for that transaction's row lock), and
                # a committed request must never run again.
                tx.execute(
                    f"UPDATE {self.table} SET token = ?, lease_until = ? "
                    "WHERE principal = ? AND idem_key = ? AND token = ? AND state = 'claimed'",
                    (token, now + self.lease, principal, key, record.token),
                )
                if tx.cursor.rowcount == 1:
                    log.warning(
                        "idempotency claim taken over",
                        key=key,
                        why="its owner's session ended" if locked else "its lease ran out",
                    )
                    if locked or (principal, key) in self._held:
                        self._held[(principal, key)] = token
                    return token
            if locked:
                self._unlock(tx, principal, key, None)
            return replace(record, owner_gone=gone)

    def answer(
        self, principal: str, key: str, token: str, status: int, body: str, headers: dict[str, str]
    ) -> None:
        """Keep the response of a claimed key (for the claim's owner only)."""
        with self.transaction() as tx:
            tx.execute(
                f"UPDATE {self.table} SET state = 'answered', status = ?, body = ?, headers = ? "
                "WHERE principal = ? AND idem_key = ? AND token = ?",
                (status, body, json.dumps(headers), principal, key, token),
            )
            if tx.cursor.rowcount != 1:
                log.warning("idempotency claim lost before its answer was kept", key=key)
        # Unlocked only once the answer is committed: an advisory unlock takes effect at once,
        # not at commit, and a retry that took the lock while the row still said 'committed'
        # would be told the owner had gone (409 request-recorded) as it was answering.
        if self._owner_locks:
            with self.transaction() as tx:
                self._unlock(tx, principal, key, token)

    def extend(self, principal: str, key: str, token: str) -> None:
        """Renew the lease of a claim still running (its owner is alive)."""
        with self.transaction() as tx:
            tx.execute(
                f"UPDATE {self.table} SET lease_until = ? "
                "WHERE principal = ? AND idem_key = ? AND token = ? "
                "AND state IN ('claimed', 'committed')",
                (self.clock() + self.lease, principal, key, token),
            )

    def release(self, principal: str, key: str, token: str) -> None:
        """Give a claimed key up (nothing was committed): the next request with it runs."""
        with self.transaction() as tx:
            # Unlocked first: a retry that takes the claim over meanwhile changes its token,
            # and the DELETE below then leaves its row alone.
            if self._owner_locks:
                self._unlock(tx, principal, key, token)
            tx.execute(
                f"DELETE FROM {self.table} WHERE principal = ? AND idem_key = ? AND token = ? "
                "AND state = 'claimed'",  # never a claim whose events were recorded
                (principal, key, token),
            )

    def abandon(self, principal: str, key: str, token: str) -> None:
        """Stop owning a request that committed but cannot keep its answer (the database went
        away): a retry is told at once that it was recorded (409 ``request-recorded``)."""
        with self.transaction() as tx:
            tx.execute(
                f"UPDATE {self.table} SET lease_until = 0 "
                "WHERE principal = ? AND idem_key = ? AND token = ? AND state = 'committed'",
                (principal, key, token),
            )
            if self._owner_locks:
                self._unlock(tx, principal, key, token)

    def count(self) -> int:
        """How many rows the table holds (expired ones included)."""
        with self.transaction() as tx:
            row = tx.fetchone(f"SELECT COUNT(*) FROM {self.table}")
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection, if one was opened (its owner locks go with it)."""
        with self._lock:
            self._drop_connection()
