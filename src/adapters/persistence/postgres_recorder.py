"""The library's PostgreSQL recorders: the application recorder writing the audit chain
(``audit_hashing``) while the library's EXCLUSIVE lock on the events table is held, and tables
created under one advisory lock per schema.

Retries (issue 14). The library retries each recorder call on ``OperationalError`` and
``InterfaceError`` ten times (``@retry(..., max_attempts=10, wait=0.2)``), each attempt waiting
up to the pool's timeout for a connection: with the server down, one request took ~50 s to
fail. And a retried ``insert_events`` after a connection lost during COMMIT cannot know whether
the commit happened: the retry meets its own events (a 409 for a request that was recorded).
So here an insert is never retried (the failure is answered 503, and a client's retry with its
Idempotency-Key is told it was recorded, or runs it), and a read is tried again at most
``READ_ATTEMPTS`` times, only when a connection broke under it, never when the pool could not
connect at all (a ``PoolTimeout``: the server is down, answer at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresRecorder,
)
from psycopg.errors import DuplicateObject
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import PoolTimeout

from adapters.persistence.audit_hashing import ChainRow, EventRow, chain_rows, genesis_row, oid_text
from adapters.persistence.audit_head import CommittedHead
from adapters.persistence.audit_table import (
    ChainReader,
    chain_head,
    chain_row,
    chain_table_name,
    check_key,
    not_written,
    row_values,
    stored_id,
)
from adapters.persistence.claim_fence import KWARG as CLAIM
from adapters.persistence.claim_fence import ClaimFence, ClaimLost

READ_ATTEMPTS = 3


def _without_retries(method: Any) -> Any:
    """The library's method without its ``@retry`` wrapper (``functools.wraps`` keeps it)."""
    return getattr(method, "__wrapped__", method)


def _read(method: Any, *args: Any, **kwargs: Any) -> Any:
    """``method`` tried again after a broken connection, at most READ_ATTEMPTS times."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return _without_retries(method)(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if attempt == READ_ATTEMPTS or isinstance(exc.__cause__, PoolTimeout):
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


class _ChainNotWritten(BaseException):
    """Carries a failure out of the library's ``except Exception`` inside its insert transaction,
    so that psycopg rolls the transaction back instead of committing events without chain rows."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class SerialisedDDL(PostgresRecorder):
    """The library's ``create_table`` in one transaction under an advisory lock per schema.

    Several processes starting on one store at once (service instances, schedulers) otherwise
    race on ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently updated") and on
    ``CREATE TABLE IF NOT EXISTS`` (a duplicate key in the catalogue)."""

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"doseledger-ddl:{self.datastore.schema}",),
            )
            for statement in self.sql_create_statements:
                if "CREATE TYPE" in statement.as_string():  # no IF NOT EXISTS for types
                    with suppress(DuplicateObject), curs.connection.transaction():
                        curs.execute(statement, prepare=False)
            self._create_table(curs)
        self.datastore.register_type_adapters()


class SnapshotRecorder(SerialisedDDL, PostgresAggregateRecorder):
    """The library's aggregate recorder (snapshots), its tables created under the DDL lock;
    inserts not retried, reads retried only after a broken connection (see the module)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        insert = _without_retries(PostgresAggregateRecorder.insert_events)
        result: Sequence[int] | None = insert(self, stored_events, **kwargs)
        return result

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return _read(PostgresAggregateRecorder.select_events, self, *args, **kwargs)


class ChainedPostgresApplicationRecorder(SerialisedDDL, PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, plus one audit-chain row per event in the same
    transaction, written while the library's EXCLUSIVE lock on the events table is held."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        audit_key: bytes,
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if self.datastore.enable_db_functions:
            msg = "the audit chain needs POSTGRES_ENABLE_DB_FUNCTIONS off"
            raise ProgrammingError(msg)
        self.audit_key = audit_key
        self.chain_table_name = chain_table_name(events_table_name, "audit_chain")
        index = f"{self.chain_table_name}_originator_idx"
        self.check_identifier_length(index)
        schema, table = Identifier(self.datastore.schema), Identifier(self.chain_table_name)
        self._create_chain_statements: list[Composed] = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "seq bigint PRIMARY KEY, "
                "originator_id text NOT NULL, "
                "originator_version bigint NOT NULL, "
                "topic text NOT NULL, "
                "event_hash text NOT NULL, "
                "chain_hash text NOT NULL)"
            ).format(schema=schema, table=table),
            SQL(
                "CREATE INDEX IF NOT EXISTS {index} "
                "ON {schema}.{table} (originator_id, originator_version)"
            ).format(index=Identifier(index), schema=schema, table=table),
        ]
        self._qualified_events = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name))
        self._qualified_chain = SQL("{0}.{1}").format(schema, table)
        self._select_head = SQL("SELECT seq, chain_hash FROM {0} ORDER BY seq DESC LIMIT 1").format(
            self._qualified_chain
        )
        self._select_genesis = SQL(
            "SELECT originator_version, chain_hash FROM {0} WHERE seq = 0"
        ).format(self._qualified_chain)
        self._key_checked = False
        self.head = CommittedHead()
        self._insert_chain = SQL(
            "INSERT INTO {0} (seq, originator_id, originator_version, topic, event_hash, "
            "chain_hash) VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(self._qualified_chain)

    def _create_table(self, curs: psycopg.Cursor[DictRow]) -> None:
        super()._create_table(curs)
        for statement in self._create_chain_statements:
            curs.execute(statement, prepare=False)
        curs.execute(SQL("SELECT 1 FROM {0} LIMIT 1").format(self._qualified_chain))
        if curs.fetchone() is None:
            # Count under the writers' lock, so no event slips in between count and genesis.
            self._lock_table(curs)
            curs.execute(SQL("SELECT count(*) AS n FROM {0}").format(self._qualified_events))
            counted = curs.fetchone()
            genesis = genesis_row(self.audit_key, int(counted["n"]) if counted else 0)
            curs.execute(
                self._insert_chain + SQL(" ON CONFLICT (seq) DO NOTHING"), row_values(genesis)
            )

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Called after the events INSERT has been synced, inside the library's transaction and
        # under its EXCLUSIVE lock on the events table: the head read here is the latest.
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        try:
            with curs.connection.cursor() as c:
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
        except Exception as exc:
            raise _ChainNotWritten(exc) from exc
        fence: ClaimFence | None = kwargs.get(CLAIM)
        if fence is not None:
            with curs.connection.cursor() as c:
                # RETURNING: in the library's pipeline, fetching is what waits for the row.
                c.execute(
                    SQL(fence.statement("%s") + " RETURNING 1"),  # type: ignore[arg-type]
                    fence.parameters(stored_events, time.time()),
                )
                try:
                    fence.check(len(c.fetchall()))
                except ClaimLost as lost:  # a BaseException: the library's transaction rolls back
                    raise _ChainNotWritten(lost) from lost
        return notification_ids

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        insert = _without_retries(PostgresApplicationRecorder.insert_events)
        with self.head.writing():
            try:
                notification_ids: Sequence[int] | None = insert(self, stored_events, **kwargs)
            except _ChainNotWritten as failed:
                if isinstance(failed.cause, PersistenceError | ClaimLost):
                    raise failed.cause from None
                raise not_written(failed.cause) from failed.cause
        return notification_ids

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return _read(PostgresApplicationRecorder.select_events, self, *args, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return _read(PostgresApplicationRecorder.select_notifications, self, *args, **kwargs)

    def max_notification_id(self) -> int | None:
        found: int | None = _read(PostgresApplicationRecorder.max_notification_id, self)
        return found

    @contextmanager
    def audit_reader(self) -> Iterator[ChainReader]:
        """One REPEATABLE READ, READ ONLY transaction over the events and the chain."""
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor() as curs:
                yield _PostgresChainReader(self, curs)


class _PostgresChainReader:
    def __init__(
        self, recorder: ChainedPostgresApplicationRecorder, curs: psycopg.Cursor[DictRow]
    ) -> None:
        self.recorder = recorder
        self.curs = curs

    def chain_table_exists(self) -> bool:
        self.curs.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema=%s AND table_name=%s",
            (self.recorder.datastore.schema, self.recorder.chain_table_name),
        )
        return self.curs.fetchone() is not None

    def events_after(self, position: int | None, limit: int) -> list[EventRow]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}"
        ).format(self.recorder._qualified_events)
        params: list[Any] = []
        if position is not None:
            statement += SQL(" WHERE notification_id > %s")
            params.append(position)
        self.curs.execute(statement + SQL(" ORDER BY notification_id LIMIT %s"), [*params, limit])
        return [
            EventRow(
                int(row["notification_id"]),
                oid_text(row["originator_id"]),
                int(row["originator_version"]),
                str(row["topic"]),
                bytes(row["state"]),
            )
            for row in self.curs.fetchall()
        ]

    def chain_after(self, seq: int | None, limit: int) -> list[ChainRow]:
        statement = SQL(
            "SELECT seq, originator_id, originator_version, topic, event_hash, chain_hash FROM {0}"
        ).format(self.recorder._qualified_chain)
        params: list[Any] = []
        if seq is not None:
            statement += SQL(" WHERE seq > %s")
            params.append(seq)
        self.curs.execute(statement + SQL(" ORDER BY seq LIMIT %s"), [*params, limit])
        return [chain_row(tuple(row.values())) for row in self.curs.fetchall()]

    def has_event(self, originator_id: str, version: int) -> bool:
        ident = stored_id(originator_id, self.recorder.datastore.originator_id_type)
        if ident is None:
            return False
        self.curs.execute(
            SQL("SELECT 1 FROM {0} WHERE originator_id = %s AND originator_version = %s").format(
                self.recorder._qualified_events
            ),
            (ident, version),
        )
        return self.curs.fetchone() is not None

    def has_chain_row(self, originator_id: str, version: int) -> bool:
        self.curs.execute(
            SQL("SELECT 1 FROM {0} WHERE originator_id = %s AND originator_version = %s").format(
                self.recorder._qualified_chain
            ),
            (originator_id, version),
        )
        return self.curs.fetchone() is not None

    def link_of(self, originator_id: str, version: int) -> tuple[int, ChainRow] | None:
        ident = stored_id(originator_id, self.recorder.datastore.originator_id_type)
        if ident is None:
            return None
        self.curs.execute(
            SQL(
                "SELECT notification_id FROM {0} WHERE originator_id = %s "
                "AND originator_version = %s"
            ).format(self.recorder._qualified_events),
            (ident, version),
        )
        found = self.curs.fetchone()
        self.curs.execute(
            SQL(
                "SELECT seq, originator_id, originator_version, topic, event_hash, chain_hash "
                "FROM {0} WHERE originator_id = %s AND originator_version = %s"
            ).format(self.recorder._qualified_chain),
            (originator_id, version),
        )
        row = self.curs.fetchone()
        if found is None or row is None:
            return None
        return int(found["notification_id"]), chain_row(tuple(row.values()))
