"""The library's SQLite application recorder, writing the audit chain (``audit_hashing``).

The events INSERT is the transaction's first statement and holds the database's single write
lock (WAL) until commit, so the head read after it is the latest and the chain stays linear.

An aggregate's events are read (``select_events``: a cached aggregate's fast-forward before
every command, a load) with one statement on a connection of the calling thread's own,
autocommit and query only, instead of a transaction on a connection checked out of the
library's pool: the pool's hand-over (a semaphore, a condition, BEGIN and ROLLBACK) cost more
than the indexed read, and a reader waited there behind any writer waiting for the write lock.
One statement reads one consistent state of the database (WAL), as the library's one-statement
transaction did. An in-memory database (a shared cache, which locks tables instead of using the
WAL) keeps the library's pool.

The chain table has no index on (originator_id, originator_version), and one written by an
earlier version is dropped: it cost every commit two more random B-tree pages, for reads that
are rare (docs/benchmarks.md, seventh session). An event's chain row is found from its log
position (``link_of``), and only a store changed outside the ledger, where that fails, is
scanned.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
)

from adapters.persistence.audit_hashing import ChainRow, EventRow, chain_rows, genesis_row, oid_text
from adapters.persistence.audit_head import CommittedHead
from adapters.persistence.audit_table import (
    ChainReader,
    as_bytes,
    as_int,
    chain_head,
    chain_row,
    chain_table_name,
    check_key,
    not_written,
    row_values,
    stored_id,
)
from adapters.persistence.claim_fence import KWARG as CLAIM
from adapters.persistence.claim_fence import ClaimFence
from adapters.persistence.sqlite_connections import own_connection
from adapters.persistence.wal_checkpoints import WalCheckpointer


class ThreadReaders:
    """One autocommit, query-only connection per thread to a SQLite file (module docstring);
    ``close`` closes them all."""

    def __init__(self, database: str, timeout: float) -> None:
        self.database = database
        self.timeout = timeout
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def fetchall(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one statement (a read transaction of its own)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = own_connection(self.database, self.timeout)
            connection.execute("PRAGMA query_only = ON")
            connection.row_factory = sqlite3.Row
            with self._lock:
                self._opened.append(connection)
            self._local.connection = connection
        try:
            return connection.execute(statement, params).fetchall()
        except sqlite3.Error as exc:  # as the library's transactions map them
            raise _persistence_error(exc) from exc

    def close(self) -> None:
        """Close every thread's connection (the recorder's store is being closed)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()


def _persistence_error(exc: sqlite3.Error) -> PersistenceError:
    for sqlite_class, ours in (
        (sqlite3.InterfaceError, InterfaceError),
        (sqlite3.OperationalError, OperationalError),
        (sqlite3.ProgrammingError, ProgrammingError),
        (sqlite3.DatabaseError, DatabaseError),
    ):
        if isinstance(exc, sqlite_class):
            return ours(exc)
    return PersistenceError(exc)


def own_file(datastore: SQLiteDatastore) -> tuple[str, float] | None:
    """The datastore's file and lock timeout, for the connections a thread opens of its own
    (the readers, the WAL checkpointer); None for an in-memory database (no file, no WAL)."""
    pool = datastore.pool
    if pool.is_sqlite_memory_mode:
        return None
    return pool.db_name, pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus one audit-chain row per event in the same transaction."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table_name: str = "stored_events",
        *,
        audit_key: bytes,
    ) -> None:
        super().__init__(datastore, events_table_name)
        self.audit_key = audit_key
        self.chain_table_name = chain_table_name(events_table_name, "audit_chain")
        table = self.chain_table_name
        self._create_chain_statements = [
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "seq INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, "
            "event_hash TEXT NOT NULL, "
            "chain_hash TEXT NOT NULL)",
            f"DROP INDEX IF EXISTS {table}_originator_idx",  # module docstring
        ]
        self._select_head = f"SELECT seq, chain_hash FROM {table} ORDER BY seq DESC LIMIT 1"
        self._select_genesis = f"SELECT originator_version, chain_hash FROM {table} WHERE seq=0"
        self._key_checked = False
        self._insert_chain = f"INSERT INTO {table} VALUES (?,?,?,?,?,?)"
        self.head = CommittedHead()
        file = own_file(datastore)
        self.readers = None if file is None else ThreadReaders(*file)
        self.checkpointer = None if file is None else WalCheckpointer(*file)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.head.writing():
            notification_ids = super().insert_events(stored_events, **kwargs)
        if self.checkpointer is not None:
            self.checkpointer.wrote()
        return notification_ids

    def close_own_connections(self) -> None:
        """Stop the checkpointer and close the per-thread readers (the store is closing)."""
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self.readers is not None:
            self.readers.close()

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's query, on the calling thread's own connection (module docstring)."""
        if self.readers is None:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        statement = self.select_events_statement
        params: list[Any] = [
            originator_id.hex if isinstance(originator_id, UUID) else originator_id
        ]
        if gt is not None:
            statement += "AND originator_version>? "
            params.append(gt)
        if lte is not None:
            statement += "AND originator_version<=? "
            params.append(lte)
        statement += "ORDER BY originator_version " + ("DESC " if desc else "ASC ")
        if limit is not None:
            statement += "LIMIT ? "
            params.append(limit)
        rows = self.readers.fetchall(statement, params)
        # Every row is of the aggregate asked for: its id as given, not parsed once a row.
        same = isinstance(originator_id, UUID) and self.datastore.originator_id_type == "uuid"
        return [
            StoredEvent(
                originator_id=originator_id
                if same
                else self.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in rows
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        for statement in self._create_chain_statements:
            c.execute(statement)
        c.execute(f"SELECT 1 FROM {self.chain_table_name} LIMIT 1")
        if c.fetchone() is None:
            c.execute(f"SELECT COUNT(*) FROM {self.events_table_name}")
            genesis = genesis_row(self.audit_key, int(c.fetchone()[0]))
            c.execute(
                f"INSERT OR IGNORE INTO {self.chain_table_name} VALUES (?,?,?,?,?,?)",
                row_values(genesis),
            )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The events INSERT comes first: it takes SQLite's write lock, so the head read below
        # is the latest and no other writer can commit before this transaction does.
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        if not stored_events:
            return notification_ids
        try:
            if not self._key_checked:
                c.execute(self._select_genesis)
                check_key(self.audit_key, c.fetchone())
                self._key_checked = True
            head = self.head.before(notification_ids)
            if head is None:
                c.execute(self._select_head)
                head = chain_head(c.fetchone())
            rows = chain_rows(self.audit_key, head, stored_events)
            c.executemany(self._insert_chain, [row_values(r) for r in rows])
            self.head.stage(notification_ids, rows)
        except (sqlite3.Error, PersistenceError):
            raise  # the library's transaction rolls back, and maps sqlite3 errors
        except Exception as exc:
            raise not_written(exc) from exc
        fence: ClaimFence | None = kwargs.get(CLAIM)
        if fence is not None:
            c.execute(fence.statement("?"), fence.parameters(stored_events, time.time()))
            fence.check(c.sqlite_cursor.rowcount)  # else the transaction rolls back
        return notification_ids

    @contextmanager
    def audit_reader(self) -> Iterator[ChainReader]:
        """One read transaction (a WAL snapshot) over the events and the chain."""
        with self.datastore.transaction(commit=False) as c:
            yield _SQLiteChainReader(self, c)


class _SQLiteChainReader:
    def __init__(self, recorder: ChainedSQLiteApplicationRecorder, c: SQLiteCursor) -> None:
        self.recorder = recorder
        self.c = c
        self.events = recorder.events_table_name
        self.chain = recorder.chain_table_name

    def chain_table_exists(self) -> bool:
        self.c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (self.chain,))
        return self.c.fetchone() is not None

    def events_after(self, position: int | None, limit: int) -> list[EventRow]:
        where, params = ("WHERE rowid>? ", [position]) if position is not None else ("", [])
        self.c.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events} {where}ORDER BY rowid LIMIT ?",
            [*params, limit],
        )
        return [
            EventRow(
                int(row[0]),
                _sqlite_oid_text(self.recorder, str(row[1])),
                as_int(row[2]),
                str(row[3]),
                as_bytes(row[4]),
            )
            for row in self.c.fetchall()
        ]

    def chain_after(self, seq: int | None, limit: int) -> list[ChainRow]:
        where, params = ("WHERE seq>? ", [seq]) if seq is not None else ("", [])
        self.c.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM {self.chain} {where}ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [chain_row(tuple(row)) for row in self.c.fetchall()]

    def _event_key(self, originator_id: str) -> str | None:
        ident = stored_id(originator_id, self.recorder.datastore.originator_id_type)
        if ident is None:
            return None
        return ident.hex if isinstance(ident, UUID) else ident

    def has_event(self, originator_id: str, version: int) -> bool:
        key = self._event_key(originator_id)
        if key is None:
            return False
        self.c.execute(
            f"SELECT 1 FROM {self.events} WHERE originator_id=? AND originator_version=?",
            (key, version),
        )
        return self.c.fetchone() is not None

    def has_chain_row(self, originator_id: str, version: int) -> bool:
        # A scan (no index, module docstring): asked only once verification found a fault.
        return self._scan_chain(originator_id, version) is not None

    def link_of(self, originator_id: str, version: int) -> tuple[int, ChainRow] | None:
        key = self._event_key(originator_id)
        if key is None:
            return None
        self.c.execute(
            f"SELECT rowid FROM {self.events} WHERE originator_id=? AND originator_version=?",
            (key, version),
        )
        found = self.c.fetchone()
        if found is None:
            return None
        position = int(found[0])
        # The chain has one row per event since its genesis row, which counts the events
        # before it; SQLite's positions have no gaps, so this event's row is its position less
        # that count, unless the store was changed outside the ledger: then it is looked for.
        self.c.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM {self.chain} "
            f"WHERE seq = ? - (SELECT originator_version FROM {self.chain} WHERE seq=0)",
            (position,),
        )
        row = self.c.fetchone()
        if row is not None:
            link = chain_row(tuple(row))
            if (link.originator_id, link.originator_version) == (originator_id, version):
                return position, link
        found_row = self._scan_chain(originator_id, version)
        return None if found_row is None else (position, found_row)

    def _scan_chain(self, originator_id: str, version: int) -> ChainRow | None:
        self.c.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM {self.chain} "
            "WHERE originator_id=? AND originator_version=? AND seq>0",
            (originator_id, version),
        )
        row = self.c.fetchone()
        return None if row is None else chain_row(tuple(row))


_CHAIN_COLUMNS = "seq, originator_id, originator_version, topic, event_hash, chain_hash"


def _sqlite_oid_text(recorder: SQLiteApplicationRecorder, stored: str) -> str:
    try:
        return oid_text(recorder.convert_originator_id(stored))
    except ValueError:  # not a UUID: written outside the ledger
        return stored
