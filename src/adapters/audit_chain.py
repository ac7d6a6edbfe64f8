"""Tamper evidence for the event store: an HMAC hash chain written with every event, and its check.

Every stored event gets one row in an audit-chain table, appended in the transaction that inserts
the event (same commit, or neither)::

    event_hash = HMAC-SHA256(key, frame(originator_id, version, topic, state))
    chain_hash = HMAC-SHA256(key, frame(previous chain_hash, seq, originator_id, version, topic,
                                        event_hash))

``seq`` is gapless (0 is the genesis row, then 1, 2, ... in insertion order) and, like the
identity and topic, bound into the link, so each chain row can be checked against its predecessor
without its event. The genesis row records how many events the store already held when the chain
started (0 for a store created with it): those are reported as not covered, never as verified.

The previous chain hash is read inside the insert transaction, after the events are inserted:
on PostgreSQL the library has by then taken ``LOCK TABLE ... IN EXCLUSIVE MODE`` on the events
table; on SQLite the events INSERT is the transaction's first statement and holds the database's
single write lock (WAL) from then until commit. Either way writers are serialised and the chain
stays linear.

The recorders are built by the two factories below, which ``adapters.settings.persistence_env``
names in ``PERSISTENCE_MODULE``: a factory, unlike a recorder, sees the application's environment,
so it is where ``DOSELEDGER_AUDIT_KEY`` is read (as the library's own factory reads ``CIPHER_KEY``).
There is no public default key: without the variable a SQLite store gets a random key generated
once and kept beside its file (``PATH.audit-key``, mode 0600; a throw-away in-memory store, one
per process), and a PostgreSQL store refuses to open.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import (
    ApplicationRecorder,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresRecorder,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, resolve_topic
from psycopg.errors import DuplicateObject
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.persistence.claim_fence import KWARG as CLAIM
from adapters.persistence.claim_fence import ClaimFence, ClaimLost
from adapters.persistence.environment import AUDIT_KEY_VAR
from domain.errors import InvalidInput

# Beside a SQLite file PATH, when DOSELEDGER_AUDIT_KEY is unset: PATH + this suffix (mode 0600).
KEY_FILE_SUFFIX = ".audit-key"
MIN_KEY_LENGTH = 16
# The key of a throw-away in-memory SQLite store without DOSELEDGER_AUDIT_KEY (this process's).
_MEMORY_KEY = secrets.token_urlsafe(32)
GENESIS_PREV = "0" * 64
PAGE_SIZE = 1000
_EVENT_DOMAIN = b"doseledger/audit-chain/event/v1"
_LINK_DOMAIN = b"doseledger/audit-chain/link/v1"
_KINDS = {"doseledger:trial.": "trial", "doseledger:patient.": "patient"}


# ------------------------------------------------------------------ hashing


def _frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part preceded by its length (8 bytes, big-endian)."""
    return b"".join([len(part).to_bytes(8, "big") + part for part in parts])


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(key: bytes, message: bytes) -> str:
    mac = _keyed(key).copy()  # the key schedule once per key, not once per hash
    mac.update(message)
    return mac.hexdigest()


def event_hash(key: bytes, originator_id: str, version: int, topic: str, state: bytes) -> str:
    """HMAC-SHA256 (hex) of one stored event's identity, topic and stored state bytes."""
    return _mac(
        key,
        _frame(_EVENT_DOMAIN, originator_id.encode(), str(version).encode(), topic.encode(), state),
    )


def link_hash(
    key: bytes, prev: str, seq: int, originator_id: str, version: int, topic: str, ehash: str
) -> str:
    """HMAC-SHA256 (hex) of one chain row, bound to the previous row's chain hash."""
    message = _frame(
        _LINK_DOMAIN,
        prev.encode(),
        str(seq).encode(),
        originator_id.encode(),
        str(version).encode(),
        topic.encode(),
        ehash.encode(),
    )
    return _mac(key, message)


def aggregate_kind(topic: str) -> str:
    """'trial' or 'patient' from an event topic (``doseledger:trial.X``), else 'unknown'."""
    return next((kind for prefix, kind in _KINDS.items() if topic.startswith(prefix)), "unknown")


def _key_bytes(key: str | bytes | None) -> bytes:
    if key is None:
        key = os.environ.get(AUDIT_KEY_VAR)
        if not key:
            raise InvalidInput(f"{AUDIT_KEY_VAR} is not set", field=AUDIT_KEY_VAR)
    return key if isinstance(key, bytes) else key.encode()


def key_file(dbname: str) -> Path | None:
    """Where a SQLite store's generated audit key is kept (None: an in-memory store)."""
    if dbname == ":memory:" or dbname.startswith("file::memory:") or "mode=memory" in dbname:
        return None
    return Path(dbname).expanduser().with_name(Path(dbname).name + KEY_FILE_SUFFIX)


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"the audit key in {path} is shorter than {MIN_KEY_LENGTH} characters",
            field=AUDIT_KEY_VAR,
        )
    return key


def local_audit_key(dbname: str) -> str:
    """A SQLite store's audit key without DOSELEDGER_AUDIT_KEY: read from ``PATH.audit-key``,
    or generated (random, 256 bits) and written there once with mode 0600, atomically (of two
    processes starting at once, both end up with the key the first linked into place)."""
    path = key_file(dbname)
    if path is None:
        return _MEMORY_KEY
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
        # Where the key is, never the key itself (INFO: quiet in the CLI's one-line answers).
        structlog.get_logger("doseledger.audit").info(
            "generated the audit key",
            path=str(path),
            note=f"keep it (mode 0600) with the store, or set {AUDIT_KEY_VAR}",
        )
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read_key(path)


def _chain_table_name(events_table_name: str, default: str) -> str:
    if events_table_name == "stored_events":
        return default
    return events_table_name.removesuffix("_events") + "_audit_chain"


def _oid_text(originator_id: UUID | str) -> str:
    return str(originator_id)


@dataclass(frozen=True)
class ChainRow:
    """One row of the audit-chain table."""

    seq: int
    originator_id: str
    originator_version: int
    topic: str
    event_hash: str
    chain_hash: str


@dataclass(frozen=True)
class EventRow:
    """One stored event as verification reads it (``position``: its notification id)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def chain_rows(
    key: bytes, head: tuple[int, str] | None, stored_events: Sequence[StoredEvent]
) -> list[ChainRow]:
    """The chain rows that follow ``head`` (seq, chain hash) for these events, in their order."""
    seq, prev = head if head is not None else (0, GENESIS_PREV)
    rows = []
    for stored in stored_events:
        seq += 1
        oid = _oid_text(stored.originator_id)
        ehash = event_hash(key, oid, stored.originator_version, stored.topic, stored.state)
        prev = link_hash(key, prev, seq, oid, stored.originator_version, stored.topic, ehash)
        rows.append(ChainRow(seq, oid, stored.originator_version, stored.topic, ehash, prev))
    return rows


def genesis_row(key: bytes, unchained: int) -> ChainRow:
    """Row 0: the number of events the store held when the chain started, authenticated."""
    return ChainRow(
        0, "", unchained, "", "", link_hash(key, GENESIS_PREV, 0, "", unchained, "", "")
    )


# ------------------------------------------------------------------ recorders


class ChainReader(Protocol):
    """Reads one consistent snapshot of the events and the chain, in pages."""

    def chain_table_exists(self) -> bool: ...
    def events_after(self, position: int | None, limit: int) -> list[EventRow]: ...
    def chain_after(self, seq: int | None, limit: int) -> list[ChainRow]: ...
    def has_event(self, originator_id: str, version: int) -> bool: ...
    def has_chain_row(self, originator_id: str, version: int) -> bool: ...


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus one audit-chain row per event in the same transaction."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table_name: str = "stored_events",
        *,
        audit_key: str | bytes | None = None,
    ) -> None:
        super().__init__(datastore, events_table_name)
        self.audit_key = _key_bytes(audit_key)
        self.chain_table_name = _chain_table_name(events_table_name, "audit_chain")
        table = self.chain_table_name
        self._create_chain_statements = [
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "seq INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, "
            "event_hash TEXT NOT NULL, "
            "chain_hash TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {table}_originator_idx "
            f"ON {table} (originator_id, originator_version)",
        ]
        self._select_head = f"SELECT seq, chain_hash FROM {table} ORDER BY seq DESC LIMIT 1"
        self._select_genesis = f"SELECT originator_version, chain_hash FROM {table} WHERE seq=0"
        self._key_checked = False
        self._insert_chain = f"INSERT INTO {table} VALUES (?,?,?,?,?,?)"

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
                _values(genesis),
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
                _check_key(self.audit_key, c.fetchone())
                self._key_checked = True
            c.execute(self._select_head)
            rows = chain_rows(self.audit_key, _head(c.fetchone()), stored_events)
            c.executemany(self._insert_chain, [_values(r) for r in rows])
        except (sqlite3.Error, PersistenceError):
            raise  # the library's transaction rolls back, and maps sqlite3 errors
        except Exception as exc:
            raise _not_written(exc) from exc
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
                _as_int(row[2]),
                str(row[3]),
                _as_bytes(row[4]),
            )
            for row in self.c.fetchall()
        ]

    def chain_after(self, seq: int | None, limit: int) -> list[ChainRow]:
        where, params = ("WHERE seq>? ", [seq]) if seq is not None else ("", [])
        self.c.execute(
            "SELECT seq, originator_id, originator_version, topic, event_hash, chain_hash "
            f"FROM {self.chain} {where}ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [_chain_row(tuple(row)) for row in self.c.fetchall()]

    def has_event(self, originator_id: str, version: int) -> bool:
        stored_id = _stored_id(originator_id, self.recorder.datastore.originator_id_type)
        if stored_id is None:
            return False
        key = stored_id.hex if isinstance(stored_id, UUID) else stored_id
        self.c.execute(
            f"SELECT 1 FROM {self.events} WHERE originator_id=? AND originator_version=?",
            (key, version),
        )
        return self.c.fetchone() is not None

    def has_chain_row(self, originator_id: str, version: int) -> bool:
        self.c.execute(
            f"SELECT 1 FROM {self.chain} WHERE originator_id=? AND originator_version=?",
            (originator_id, version),
        )
        return self.c.fetchone() is not None


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
    """The library's aggregate recorder (snapshots), its tables created under the DDL lock."""


class ChainedPostgresApplicationRecorder(SerialisedDDL, PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, plus one audit-chain row per event in the same
    transaction, written while the library's EXCLUSIVE lock on the events table is held."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        audit_key: str | bytes | None = None,
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if self.datastore.enable_db_functions:
            msg = "the audit chain needs POSTGRES_ENABLE_DB_FUNCTIONS off"
            raise ProgrammingError(msg)
        self.audit_key = _key_bytes(audit_key)
        self.chain_table_name = _chain_table_name(events_table_name, "audit_chain")
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
                self._insert_chain + SQL(" ON CONFLICT (seq) DO NOTHING"), _values(genesis)
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
                    _check_key(self.audit_key, c.fetchone())
                    self._key_checked = True
                c.execute(self._select_head)
                rows = chain_rows(self.audit_key, _head(c.fetchone()), stored_events)
                c.executemany(self._insert_chain, [_values(r) for r in rows])
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
        try:
            notification_ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        except _ChainNotWritten as failed:
            if isinstance(failed.cause, PersistenceError | ClaimLost):
                raise failed.cause from None
            raise _not_written(failed.cause) from failed.cause
        return notification_ids

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
                _oid_text(row["originator_id"]),
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
        return [_chain_row(tuple(row.values())) for row in self.curs.fetchall()]

    def has_event(self, originator_id: str, version: int) -> bool:
        stored_id = _stored_id(originator_id, self.recorder.datastore.originator_id_type)
        if stored_id is None:
            return False
        self.curs.execute(
            SQL("SELECT 1 FROM {0} WHERE originator_id = %s AND originator_version = %s").format(
                self.recorder._qualified_events
            ),
            (stored_id, version),
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


def _sqlite_oid_text(recorder: SQLiteApplicationRecorder, stored_id: str) -> str:
    try:
        return _oid_text(recorder.convert_originator_id(stored_id))
    except ValueError:  # not a UUID: written outside the ledger
        return stored_id


def _as_bytes(value: Any) -> bytes:
    """SQLite columns take any type: a tampered state may come back as text or a number."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode()


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _head(row: Any) -> tuple[int, str] | None:
    """(seq, chain hash) of the newest chain row, from a database row (or None)."""
    return None if row is None else (int(row["seq"]), str(row["chain_hash"]))


def _check_key(key: bytes, genesis: Any) -> None:
    """Refuse to extend a chain written with another key (a misconfigured writer would break it
    for every later row). No genesis row: left to ``verify`` to report."""
    if genesis is None:
        return
    expected = genesis_row(key, _as_int(genesis["originator_version"])).chain_hash
    if not hmac.compare_digest(expected, str(genesis["chain_hash"])):
        msg = (
            f"{AUDIT_KEY_VAR} is not the key this store's audit chain was written with (or the "
            "chain's genesis row was altered); nothing was recorded"
        )
        raise PersistenceError(msg)


def _not_written(cause: BaseException) -> PersistenceError:
    return PersistenceError(f"audit chain row not written, nothing was recorded: {cause}")


def _values(row: ChainRow) -> tuple[int, str, int, str, str, str]:
    return (
        row.seq,
        row.originator_id,
        row.originator_version,
        row.topic,
        row.event_hash,
        row.chain_hash,
    )


def _chain_row(values: tuple[Any, ...]) -> ChainRow:
    seq, oid, version, topic, ehash, chash = values
    return ChainRow(_as_int(seq), str(oid), _as_int(version), str(topic), str(ehash), str(chash))


def _stored_id(originator_id: str, id_type: str) -> UUID | str | None:
    if id_type != "uuid":
        return originator_id
    try:
        return UUID(originator_id)
    except ValueError:
        return None


# ------------------------------------------------------------------ factories

R = TypeVar("R")
T = TypeVar("T")


def audit_key_from(env: Environment) -> bytes:
    """DOSELEDGER_AUDIT_KEY from the application's environment; else, for a SQLite store, the
    key kept beside its file (generated the first time); a PostgreSQL store needs the variable."""
    key = env.get(AUDIT_KEY_VAR)
    if key:
        return _key_bytes(key)
    dbname = env.get("SQLITE_DBNAME")
    if dbname:
        return local_audit_key(dbname).encode()
    raise InvalidInput(
        f"{AUDIT_KEY_VAR} is not set: a PostgreSQL store needs the audit chain's secret key "
        f"(at least {MIN_KEY_LENGTH} characters) in {AUDIT_KEY_VAR}",
        field=AUDIT_KEY_VAR,
    )


def _recorder_class(env: Environment, topic_var: str, default: type[R]) -> type[R]:
    topic = env.get(topic_var)
    if not topic:
        return default
    cls = resolve_topic(topic)
    if not (isinstance(cls, type) and issubclass(cls, default)):
        msg = f"{topic_var} '{topic}' must name a subclass of {default.__qualname__}"
        raise ProgrammingError(msg)
    return cls


class ChainedSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the audit-chain application recorder."""

    application_recorder_class = ChainedSQLiteApplicationRecorder

    def application_recorder(self) -> ApplicationRecorder:
        cls = _recorder_class(
            self.env, self.APPLICATION_RECORDER_TOPIC, ChainedSQLiteApplicationRecorder
        )
        recorder = cls(datastore=self.datastore, audit_key=audit_key_from(self.env))
        if self.env_create_table():
            recorder.create_table()
        return recorder


class ChainedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, with the audit-chain application recorder."""

    aggregate_recorder_class = SnapshotRecorder
    application_recorder_class = ChainedPostgresApplicationRecorder

    def application_recorder(self) -> ApplicationRecorder:
        cls = _recorder_class(
            self.env, self.APPLICATION_RECORDER_TOPIC, ChainedPostgresApplicationRecorder
        )
        prefix = self.env.name.lower() or "stored"
        recorder = cls(
            datastore=self.datastore,
            events_table_name=prefix + "_events",
            audit_key=audit_key_from(self.env),
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder


# ------------------------------------------------------------------ verification


@dataclass(frozen=True)
class Fault:
    """The first thing found wrong, with the aggregate and version at fault when known."""

    kind: str  # changed | removed | inserted | reordered | chain_broken | head_mismatch |
    #            unchained | no_chain
    message: str
    aggregate: str | None = None
    aggregate_id: str | None = None
    version: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "aggregate": self.aggregate,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "message": self.message,
        }


@dataclass(frozen=True)
class AuditResult:
    """``ok`` with the number of chained events checked and the chain's head hash, or a fault."""

    ok: bool
    events_checked: int
    head: str | None
    fault: Fault | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head": self.head,
        }
        if self.fault is not None:
            data["fault"] = self.fault.as_json()
        return data


def verify(
    recorder: ApplicationRecorder,
    *,
    expect_head: str | None = None,
    page_size: int = PAGE_SIZE,
) -> AuditResult:
    """Check every stored event against the audit chain, streaming both in pages.

    ``expect_head``: a head hash recorded earlier (e.g. anchored outside the database); it must
    be the current head or an earlier link of the verified chain (the store may have grown).
    """
    if not isinstance(
        recorder, ChainedSQLiteApplicationRecorder | ChainedPostgresApplicationRecorder
    ):
        return _no_chain("this store is not opened with an audit-chain recorder")
    with recorder.audit_reader() as reader:
        if not reader.chain_table_exists():
            return _no_chain(
                f"the store has no audit chain (no table {recorder.chain_table_name}): it was "
                "created before tamper evidence was introduced, or the table was dropped"
            )
        return _Verification(recorder.audit_key, reader, page_size, expect_head).run()


def _no_chain(message: str) -> AuditResult:
    return AuditResult(False, 0, None, Fault("no_chain", message))


def _pages(
    fetch: Callable[[int | None, int], list[T]], key: Callable[[T], int], page_size: int
) -> Iterator[T]:
    after = None
    while True:
        rows = fetch(after, page_size)
        yield from rows
        if len(rows) < page_size:
            return
        after = key(rows[-1])


class _Verification:
    def __init__(
        self, key: bytes, reader: ChainReader, page_size: int, expect_head: str | None
    ) -> None:
        self.key = key
        self.reader = reader
        self.expect_head = expect_head.lower() if expect_head else None
        self.events: Iterator[EventRow] = _pages(
            reader.events_after, lambda e: e.position, page_size
        )
        self.chain: Iterator[ChainRow] = _pages(reader.chain_after, lambda r: r.seq, page_size)
        self.checked = 0
        self.head = GENESIS_PREV
        self.head_seq = 0

    def fault(self, kind: str, message: str, at: EventRow | ChainRow | None = None) -> AuditResult:
        if at is None:
            return AuditResult(False, self.checked, self.head, Fault(kind, message))
        aggregate = aggregate_kind(at.topic)
        where = f"{aggregate} {at.originator_id} version {at.originator_version}"
        return AuditResult(
            False,
            self.checked,
            self.head,
            Fault(kind, f"{where}: {message}", aggregate, at.originator_id, at.originator_version),
        )

    def run(self) -> AuditResult:
        genesis = next(self.chain, None)
        if genesis is None:
            return self.fault("chain_broken", "the audit chain is empty (its genesis row is gone)")
        expected = genesis_row(self.key, genesis.originator_version)
        if genesis != expected or genesis.originator_version < 0:
            return self.fault(
                "chain_broken",
                "the audit chain's genesis row does not verify: the chain was rewritten or "
                "truncated, or DOSELEDGER_AUDIT_KEY is not the key it was written with",
            )
        self.head = genesis.chain_hash
        anchored = self.expect_head in (None, self.head)
        unchained = 0
        for _ in range(genesis.originator_version):
            if next(self.events, None) is None:
                break
            unchained += 1
        while True:
            row, stored = next(self.chain, None), next(self.events, None)
            if row is None and stored is None:
                break
            if row is not None:
                broken = self._broken_link(row, stored)
                if broken is not None:
                    return broken
            mismatch = self._compare(row, stored)
            if mismatch is not None:
                return mismatch
            assert row is not None
            self.checked += 1
            self.head, self.head_seq = row.chain_hash, row.seq
            anchored = anchored or self.head == self.expect_head
        if not anchored:
            return self.fault(
                "head_mismatch",
                f"the expected head {self.expect_head} is not in the audit chain (head is now "
                f"{self.head} after {self.checked} events): events recorded up to it were "
                "removed together with their chain rows, or the chain was rebuilt",
            )
        if unchained:
            return self.fault(
                "unchained",
                f"the first {unchained} stored events are not covered by the audit chain "
                "(recorded before it was started, or the chain was deleted); "
                f"{self.checked} later events verify",
            )
        return AuditResult(True, self.checked, self.head)

    def _broken_link(self, row: ChainRow, stored: EventRow | None) -> AuditResult | None:
        link = link_hash(
            self.key,
            self.head,
            row.seq,
            row.originator_id,
            row.originator_version,
            row.topic,
            row.event_hash,
        )
        if row.seq == self.head_seq + 1 and hmac.compare_digest(link, row.chain_hash):
            return None
        at: EventRow | ChainRow = stored if stored is not None else row
        if row.seq > self.head_seq + 1:
            missing = f"{self.head_seq + 1}-{row.seq - 1}"
            return self.fault(
                "chain_broken",
                f"audit chain rows {missing} are missing before this event's position "
                "(events removed together with their chain rows)",
                at,
            )
        return self.fault(
            "chain_broken",
            f"audit chain row {row.seq} at this event's position was altered, inserted or "
            "removed (it does not link to the row before it)",
            at,
        )

    def _compare(self, row: ChainRow | None, stored: EventRow | None) -> AuditResult | None:
        if row is not None and stored is not None and _same(row, stored):
            ehash = event_hash(
                self.key,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
            )
            if hmac.compare_digest(ehash, row.event_hash):
                return None
            return self.fault(
                "changed", "the stored event was changed (its hash is not the chained one)", stored
            )
        if stored is None or (
            row is not None and not self.reader.has_event(row.originator_id, row.originator_version)
        ):
            assert row is not None
            return self.fault(
                "removed",
                f"the stored event was removed (the audit chain records it at row {row.seq})",
                row,
            )
        if row is None or not self.reader.has_chain_row(
            stored.originator_id, stored.originator_version
        ):
            return self.fault(
                "inserted",
                f"the stored event (position {stored.position}) was inserted outside the ledger "
                "(the audit chain has no row for it)",
                stored,
            )
        return self.fault(
            "reordered",
            f"events were reordered: the audit chain records this event at row {row.seq}, but "
            f"the store has {stored.originator_id} version {stored.originator_version} there "
            f"(position {stored.position})",
            row,
        )


def _same(row: ChainRow, stored: EventRow) -> bool:
    return (row.originator_id, row.originator_version) == (
        stored.originator_id,
        stored.originator_version,
    )
