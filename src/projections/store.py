"""Where read models live: plain tables next to the events, in the same SQLite file or PG schema.

A tiny dialect layer over the stdlib ``sqlite3`` and ``psycopg``: SQL is written once with ``?``
placeholders and ``INSERT ... ON CONFLICT ... DO UPDATE`` upserts (both databases accept them);
the store qualifies table names (``rm_`` in SQLite, where the library's own tables are
``stored_events`` and ``tracking``; ``doseledger_rm_`` in the PostgreSQL schema the library uses,
``POSTGRES_SCHEMA`` or ``public``) and turns ``?`` into ``%s`` for psycopg. New rows go in by
the fastest append each driver has (:meth:`Transaction.insert`): multi-row INSERTs in SQLite,
``COPY`` in PostgreSQL.

Every write goes through :meth:`Store.transaction`: one database transaction that takes the
write lock up front (``BEGIN IMMEDIATE`` in SQLite; in PostgreSQL the runner locks its tracking
rows with ``SELECT ... FOR UPDATE``), commits on success and rolls back on any exception.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

from domain.errors import InvalidInput
from projections.row_statements import RowStatement, columns, parameter_types, rounds, set_based

ColumnType = Literal["text", "int"]
SQLITE_PREFIX = "rm_"
POSTGRES_PREFIX = "doseledger_rm_"
FETCH_SIZE = 1000
# A rebuild's page cache and lock wait on SQLite (see SQLiteStore.bulk_load).
BULK_CACHE_KIB = 16 * 1024
BULK_LOCK_TIMEOUT_MS = 600_000
# Rows per multi-row INSERT on SQLite (16 columns: 1,024 parameters, under every build's limit).
INSERT_ROWS = 64
# PostgreSQL's types of the columns' kinds, for a binary COPY.
COPY_TYPES: dict[ColumnType, str] = {"text": "text", "int": "int8"}


@dataclass(frozen=True)
class Table:
    """A read-model table: columns (name, type), primary key and secondary indexes."""

    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    # Secondary indexes the read model's own handlers query while following: created with
    # the table, so that a rebuild's bulk load (which defers ``indexes``) never scans for them.
    lookups: tuple[tuple[str, ...], ...] = ()
    # SQLite: store the rows in primary-key order (cheap appends when the key is a position).
    without_rowid: bool = False
    # Secondary indexes of earlier releases that one of ``indexes`` replaced: dropped where
    # they are found, so that a store kept across an upgrade is not left maintaining both.
    replaced_indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names, in table order."""
        return tuple(name for name, _ in self.columns)

    def type_of(self, column: str) -> ColumnType:
        """The declared type of one column."""
        return dict(self.columns)[column]


TRACKING = Table("tracking", (("name", "text"), ("position", "int")), key=("name",))


class Transaction:
    """One open transaction: execute, executemany and fetch, with ``?`` placeholders."""

    def __init__(self, store: Store, cursor: Any) -> None:
        self.store = store
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        self.cursor.execute(self.store.sql(sql), params)

    def executemany(self, statement: str | RowStatement, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement written for one row for every row: one statement per batch on
        PostgreSQL when it is a :class:`~projections.row_statements.RowStatement` (it names
        its key), else one per row (one round trip per batch where the driver can)."""
        if rows:
            self.store.executemany(self, statement, rows)

    def insert(self, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to a table (values in its columns' order, of their types): the fastest
        bulk INSERT the driver has."""
        if rows:
            self.store.insert(self, table, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return every row as a tuple."""
        self.cursor.execute(self.store.sql(sql), params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Run a query and return its first row, if any."""
        self.cursor.execute(self.store.sql(sql), params)
        row = self.cursor.fetchone()
        return None if row is None else tuple(row)

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Run a query and yield its rows a page at a time (bounded memory on big tables)."""
        yield from self.store.stream(self, sql, params)


class Store(ABC):
    """Read-model tables in one database, and the transactions that write them."""

    dialect: str
    prefix: str

    @abstractmethod
    def qualified(self, table: str) -> str:
        """The SQL name of a logical table (prefixed, and schema-qualified in PostgreSQL)."""

    @abstractmethod
    def index_name(self, table: str, columns: Sequence[str]) -> str:
        """The SQL name of a secondary index."""

    def qualified_index(self, table: str, columns: Sequence[str]) -> str:
        """A secondary index's name as a DROP INDEX statement names it."""
        return self.index_name(table, columns)

    @abstractmethod
    def sql(self, text: str) -> str:
        """Adapt a statement written with ``?`` placeholders to the driver."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: committed when the block ends, rolled back on any exception."""

    @abstractmethod
    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A read-only transaction that sees one consistent state of every table."""

    @abstractmethod
    def stream(self, tx: Transaction, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Yield a query's rows a page at a time."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Write faster for a while, on this connection only: a rebuild from zero."""
        yield

    @abstractmethod
    def _column_type(self, kind: ColumnType) -> str: ...

    @abstractmethod
    def insert(self, tx: Transaction, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows by the driver's fastest bulk INSERT (see :meth:`Transaction.insert`)."""

    def executemany(
        self, tx: Transaction, statement: str | RowStatement, rows: Sequence[Sequence[Any]]
    ) -> None:
        """Run a statement for every row (see :meth:`Transaction.executemany`)."""
        sql = statement.sql if isinstance(statement, RowStatement) else statement
        tx.cursor.executemany(self.sql(sql), rows)

    def order_by(self, table: Table) -> str:
        """``ORDER BY`` the primary key, byte order for text in both databases."""
        return ", ".join(table.key)

    @property
    def lock_clause(self) -> str:
        """Appended to a SELECT that must lock the rows it reads until the transaction ends."""
        return ""

    def schema_lock(self, tx: Transaction) -> None:  # noqa: B027 (SQLite: its write lock is enough)
        """Serialise creating tables with other processes until the transaction ends."""

    # ----------------------------------------------------------------- schema (DDL)

    def create_statements(self, table: Table) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` for one table, and its lookup indexes."""
        columns = ", ".join(f"{n} {self._column_type(t)}" for n, t in table.columns)
        suffix = " WITHOUT ROWID" if table.without_rowid and self.dialect == "sqlite" else ""
        return [
            f"CREATE TABLE IF NOT EXISTS {self.qualified(table.name)} "
            f"({columns}, PRIMARY KEY ({', '.join(table.key)})){suffix}",
            *self._create_indexes(table, table.lookups),
        ]

    def index_statements(self, table: Table) -> list[str]:
        """``CREATE INDEX IF NOT EXISTS`` for each secondary index of one table (after a bulk
        load: the lookup indexes come with the table), after ``DROP INDEX IF EXISTS`` for
        each index they replaced."""
        return [
            *(
                f"DROP INDEX IF EXISTS {self.qualified_index(table.name, columns)}"
                for columns in table.replaced_indexes
            ),
            *self._create_indexes(table, table.indexes),
        ]

    def _create_indexes(self, table: Table, indexes: Sequence[tuple[str, ...]]) -> list[str]:
        return [
            f"CREATE INDEX IF NOT EXISTS {self.index_name(table.name, columns)} "
            f"ON {self.qualified(table.name)} ({', '.join(columns)})"
            for columns in indexes
        ]

    def drop_statements(self, table: Table) -> list[str]:
        """``DROP TABLE IF EXISTS`` for one table (its indexes go with it)."""
        return [f"DROP TABLE IF EXISTS {self.qualified(table.name)}"]


class SQLiteStore(Store):
    """Read models in a SQLite file (the event store's own file, or a scratch one)."""

    dialect = "sqlite"

    def __init__(self, database: str, *, lock_timeout: float = 5.0, prefix: str = SQLITE_PREFIX):
        self.prefix = prefix
        self.database = database
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE takes the write
        # lock at once, so two writers never deadlock upgrading a read lock).
        self.connection = sqlite3.connect(
            database, uri=True, isolation_level=None, timeout=lock_timeout, check_same_thread=False
        )
        self.connection.execute("PRAGMA journal_mode=WAL")
        # Read models can be rebuilt from the events: NORMAL keeps them consistent with their
        # tracking rows after a crash (WAL), at the cost of the last commits on power loss.
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache

    def qualified(self, table: str) -> str:
        return f"{self.prefix}{table}"

    def index_name(self, table: str, columns: Sequence[str]) -> str:
        return f"{self.prefix}{table}_{'_'.join(columns)}_idx"

    def sql(self, text: str) -> str:
        return text

    def _column_type(self, kind: ColumnType) -> str:
        return {"text": "TEXT", "int": "INTEGER"}[kind]

    def insert(self, tx: Transaction, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Multi-row ``INSERT ... VALUES (...), (...)`` statements of INSERT_ROWS rows.

        One statement per INSERT_ROWS rows instead of one per row: SQLite prepares and steps
        the statement once for all of them (the statement is cached, as its text is always
        the same); the last rows, fewer than INSERT_ROWS, go through ``executemany``.
        """
        name, names = self.qualified(table.name), ", ".join(table.column_names)
        one = f"({', '.join('?' * len(table.columns))})"
        full = len(rows) - len(rows) % INSERT_ROWS
        if full:
            sql = f"INSERT INTO {name} ({names}) VALUES {', '.join([one] * INSERT_ROWS)}"
            execute = tx.cursor.execute
            for start in range(0, full, INSERT_ROWS):
                execute(sql, list(chain.from_iterable(rows[start : start + INSERT_ROWS])))
        if full < len(rows):
            tx.cursor.executemany(f"INSERT INTO {name} ({names}) VALUES {one}", rows[full:])

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self, cursor)
        except BaseException:
            self.connection.rollback()
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            cursor.close()

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN")  # deferred: a WAL read snapshot from the first SELECT on
        try:
            yield Transaction(self, cursor)
        finally:
            self.connection.rollback()
            cursor.close()

    def stream(self, tx: Transaction, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(FETCH_SIZE):
                yield from rows
        finally:
            cursor.close()

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A rebuild from zero on this connection: a smaller page cache, a longer lock wait.

        Durability stays as it is (``synchronous=NORMAL``). ``synchronous=OFF`` here would not
        relax the read models alone: they share the database file and its WAL with the events.
        This connection writes most of a rebuild, so it runs most of the checkpoints, and with
        OFF a checkpoint copies WAL frames into the file without syncing the WAL before or
        the file after, the frames of events recorded meanwhile included; a power loss could
        then lose or corrupt recorded events. And in WAL mode NORMAL syncs at checkpoints
        only: no commit waits for the disk (docs/benchmarks.md: OFF gained nothing measurable).

        Page cache: a commit by another connection (the other process of a parallel rebuild
        commits after each of its batches) empties this connection's cache, so a rebuild only
        ever uses what one batch touches. BULK_CACHE_KIB instead of the usual 64 MiB keeps a
        rebuild's memory flat however long the history, at the same speed.

        Lock wait: the other process of a parallel rebuild may hold the write lock for as
        long as it takes to create an index (about a second per million rows).
        """
        connection = self.connection
        settings = {"cache_size": -BULK_CACHE_KIB, "busy_timeout": BULK_LOCK_TIMEOUT_MS}
        before = {name: connection.execute(f"PRAGMA {name}").fetchone()[0] for name in settings}
        for name, value in settings.items():
            connection.execute(f"PRAGMA {name}={int(value)}")
        try:
            yield
        finally:
            for name, value in before.items():
                connection.execute(f"PRAGMA {name}={int(value)}")

    def close(self) -> None:
        self.connection.close()


class PostgresStore(Store):
    """Read models in the PostgreSQL database and schema of the events."""

    dialect = "postgres"

    def __init__(self, conninfo: Mapping[str, Any], *, schema: str = "public"):
        import psycopg  # imported here: SQLite-only deployments never load the driver

        self.prefix = POSTGRES_PREFIX
        self.schema = schema or "public"
        self.conninfo = dict(conninfo)  # for a connection of its own (LISTEN: wakeups)
        self.connection = psycopg.connect(**conninfo, autocommit=True)
        self._cursors = 0
        self._set_based: dict[str, str | None] = {}  # a RowStatement's SQL -> its batch form

    def _connected(self) -> Any:
        """The connection, opened again if it was lost (the server restarted, the network
        dropped it): the transaction that found it lost failed, the next one reconnects."""
        connection = self.connection
        if connection.closed or connection.broken:
            import psycopg

            connection.close()
            self.connection = connection = psycopg.connect(**self.conninfo, autocommit=True)
        return connection

    def qualified(self, table: str) -> str:
        return f"{_quote(self.schema)}.{_quote(self.prefix + table)}"

    def index_name(self, table: str, columns: Sequence[str]) -> str:
        # An index lives in its table's schema; its name is unique in that schema.
        return _quote(f"{self.prefix}{table}_{'_'.join(columns)}_idx")

    def qualified_index(self, table: str, columns: Sequence[str]) -> str:
        return f"{_quote(self.schema)}.{self.index_name(table, columns)}"

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def _column_type(self, kind: ColumnType) -> str:
        return {"text": "TEXT", "int": "BIGINT"}[kind]

    def insert(self, tx: Transaction, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """``COPY ... FROM STDIN`` (psycopg's ``Cursor.copy``): the rows stream to the server
        as one command, where ``executemany`` runs one INSERT per row (docs/benchmarks.md,
        "Eighth session": the rebuild on PostgreSQL).

        In the binary format, typed by the table's columns: half the client CPU of the text
        format, and less of the server's ("Ninth session"). A value not of its column's type
        (an int for a text column, a str for an int one) fails the batch with a TypeError,
        where the text format would have let the server convert it or refuse it.
        """
        copy_sql = (
            f"COPY {self.qualified(table.name)} ({', '.join(table.column_names)}) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with tx.cursor.copy(copy_sql) as copy:
            copy.set_types([COPY_TYPES[kind] for _, kind in table.columns])
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def executemany(
        self, tx: Transaction, statement: str | RowStatement, rows: Sequence[Sequence[Any]]
    ) -> None:
        """A :class:`RowStatement` of several rows runs as one statement per round of distinct
        keys (``projections.row_statements``); anything else row by row."""
        if isinstance(statement, RowStatement) and len(rows) > 1:
            sql = statement.sql
            if sql not in self._set_based:
                self._set_based[sql] = set_based(sql, parameter_types(tx.cursor, sql))
            batch = self._set_based[sql]
            if batch is not None:
                for round_ in rounds(rows, statement.key):
                    if len(round_) == 1:
                        tx.cursor.execute(self.sql(sql), round_[0])
                    else:
                        tx.cursor.execute(batch, columns(round_))
                return
        super().executemany(tx, statement, rows)

    def order_by(self, table: Table) -> str:
        return ", ".join(f'{c} COLLATE "C"' if table.type_of(c) == "text" else c for c in table.key)

    @property
    def lock_clause(self) -> str:
        return " FOR UPDATE"

    def schema_lock(self, tx: Transaction) -> None:
        # Two sessions running CREATE TABLE IF NOT EXISTS at once can both go ahead and one
        # fails on the catalogue's unique key (pg_type): an advisory lock per schema orders them.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"doseledger-rm:{self.schema}",))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        connection = self._connected()
        with connection.transaction(), connection.cursor() as cursor:
            yield Transaction(self, cursor)

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        connection = self._connected()
        with connection.transaction(force_rollback=True), connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Transaction(self, cur)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A rebuild from zero on this connection: commits do not wait for the WAL flush.

        ``synchronous_commit`` is set for this session only, so only the read models' writes
        are concerned (events are written by other connections). A server crash can lose the
        last batches committed, never part of one (views and tracking rows commit together),
        and a rebuild can always be run again.
        """
        self._connected().execute("SET synchronous_commit TO off")
        try:
            yield
        finally:
            self.connection.execute("RESET synchronous_commit")

    def stream(self, tx: Transaction, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor: the client holds one page at a time, not the whole table.
        self._cursors += 1
        with self.connection.cursor(name=f"doseledger_rm_stream_{self._cursors}") as cursor:
            cursor.itersize = FETCH_SIZE
            cursor.execute(self.sql(sql), params)
            for row in cursor:
                yield tuple(row)

    def close(self) -> None:
        self.connection.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def open_store(env: Mapping[str, str]) -> Store:
    """The store of the database the eventsourcing ``env`` names (``persistence_env(url)``).

    Told apart by their variables, not ``PERSISTENCE_MODULE``, which may name a custom factory
    (the audit-chain recorders) built on the library's SQLite or PostgreSQL one.
    """
    if env.get("SQLITE_DBNAME"):
        timeout = float(env.get("SQLITE_LOCK_TIMEOUT") or 5)
        return SQLiteStore(env["SQLITE_DBNAME"], lock_timeout=timeout)
    if env.get("POSTGRES_DBNAME"):
        conninfo = {
            "host": env["POSTGRES_HOST"],
            "port": int(env.get("POSTGRES_PORT") or 5432),
            "dbname": env["POSTGRES_DBNAME"],
            "user": env["POSTGRES_USER"],
            "password": env.get("POSTGRES_PASSWORD") or None,
            "connect_timeout": int(env.get("POSTGRES_CONNECT_TIMEOUT") or 5),
        }
        return PostgresStore(conninfo, schema=env.get("POSTGRES_SCHEMA") or "public")
    raise InvalidInput(
        "read models live in the events' database: SQLite (SQLITE_DBNAME) or PostgreSQL "
        "(POSTGRES_DBNAME); neither is set",
        field="DOSELEDGER_DATABASE_URL",
    )
