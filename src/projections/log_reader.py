"""Reading the notification log for the runner: a page after a position, and the head.

Normally the recorder's ``select_notifications`` and ``max_notification_id``. When the read
models live in the events' database, the same queries run on the read-model store's own
connection instead:

- SQLite: a connection drops its page cache whenever another connection commits, so the
  recorder's connection would re-read every page after each of our batch commits, while ours
  keeps its cache warm.
- PostgreSQL: the recorder's pool waits up to its connect timeout for a connection and the
  library retries each query ten times, so a follower would hold its lock for most of a
  minute when the server is away; the store's one connection fails at once and reopens on
  the next try (``PostgresStore._connected``), so the follower backs off and recovers.

Same table, same order, same Notification fields (``uuids=False``, for a runner that decodes no
domain event: the originator ids as text, SQLite's as stored, PostgreSQL's ``uuid::text``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteRecorder

from projections.store import PostgresStore, SQLiteStore, Store

log = structlog.get_logger("doseledger.read_models")
Reader = Callable[[int, int, "int | None"], Sequence[Notification]]
IDS_PER_READER = 32_768  # originator ids a SQLite reader converts once (least recently used out)


class NotificationSource(Protocol):
    """Where events come from: the DoseLedger application (its recorder and mapper)."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> Mapper[Any]: ...


def notification_reader(
    source: NotificationSource, store: Store, topics: Sequence[str] = (), *, uuids: bool = True
) -> Reader:
    """``read(after, limit, until)``: the next page of the notification log (of ``topics``
    only, when given: the other events are skipped by the query, never decoded).

    On the store's own connection when it shares the events' database (module docstring).
    """
    recorder = source.recorder
    events_table = _postgres_events_table(recorder, store)
    if events_table is not None:
        return _postgres_reader(store, events_table, topics, uuids=uuids)
    if (
        isinstance(store, SQLiteStore)
        and isinstance(recorder, SQLiteApplicationRecorder)
        and recorder.datastore.pool.db_name == store.database
    ):
        only = f"AND topic IN ({', '.join('?' * len(topics))}) " if topics else ""
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? {only}"
            "ORDER BY rowid LIMIT ?"
        )
        convert: Callable[[str], Any] = recorder.convert_originator_id
        if not uuids:
            convert = str
        elif (
            type(recorder).convert_originator_id is SQLiteRecorder.convert_originator_id
            and recorder.datastore.originator_id_type == "uuid"
        ):
            convert = UUID  # what it does with UUID ids, without its test on every row
        if convert is not str:
            # One object per aggregate instead of one per event: an aggregate has many events
            # in a page, and the ids' text is then remembered too (``undecoded.id_text``).
            convert = functools.lru_cache(maxsize=IDS_PER_READER)(convert)
        connection = store.connection

        def read_own(after: int, limit: int, until: int | None) -> Sequence[Notification]:
            bound = (1 << 62) if until is None else until
            rows = connection.execute(sql, (after, bound, *topics, limit)).fetchall()
            # The mapper reads a notification's fields by name: a tuple with those names is
            # a third of the cost of the library's frozen dataclass, for the same events.
            return [_NotificationRow(r[0], convert(r[1]), r[2], r[3], r[4]) for r in rows]  # type: ignore[misc]

        return read_own

    def read(after: int, limit: int, until: int | None) -> Sequence[Notification]:
        return recorder.select_notifications(
            after, limit, stop=until, topics=topics, inclusive_of_start=False
        )

    return read


class _NotificationRow(NamedTuple):
    """A notification as the store's own reader returns it (the fields of ``Notification``)."""

    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


def notification_head(source: NotificationSource, store: Store) -> Callable[[], int]:
    """``head()``: the log's last position (0 when empty), on the store's own connection when
    it shares the events' PostgreSQL database."""
    recorder = source.recorder
    events_table = _postgres_events_table(recorder, store)
    if events_table is None:
        return lambda: recorder.max_notification_id() or 0
    assert isinstance(store, PostgresStore)
    sql = f"SELECT MAX(notification_id) FROM {events_table}"

    def head() -> int:
        row = store._connected().execute(sql).fetchone()
        return int(row[0] or 0) if row else 0

    return head


def know_the_log_size(source: NotificationSource, store: Store) -> bool:
    """PostgreSQL: ANALYZE the events table if it has never been analysed; True if it ran.

    A page of the log is ``notification_id > after AND notification_id <= until ORDER BY
    notification_id LIMIT n``. Until the table's first VACUUM or ANALYZE (a store just
    restored or bulk-copied, or a server with autovacuum off) ``pg_class.reltuples`` is -1 and
    the planner guesses that a range holds 0.5% of the table. When a page asks for more rows
    than that guess it reads the whole rest of the log and sorts it, for every page: 47 ms
    against 2.7 ms for a page of 5,000 events of 100,000, and as many pages as the log has
    (docs/benchmarks.md, "Eighth session"). ANALYZE samples at most 30,000 rows and blocks no
    writer; PostgreSQL recommends it after a bulk load ("Populating a Database"). A table once
    analysed keeps its statistics, which autovacuum refreshes; then this is one catalogue query.
    """
    events_table = _postgres_events_table(source.recorder, store)
    if events_table is None:
        return False
    assert isinstance(store, PostgresStore)
    connection = store._connected()
    row = connection.execute(
        "SELECT reltuples < 0 FROM pg_class WHERE oid = to_regclass(%s)", (events_table,)
    ).fetchone()
    if row is None or not row[0]:
        return False
    # Not the owner: PostgreSQL skips the table with a warning (no error); the pages are then
    # slower, not wrong.
    connection.execute(f"ANALYZE {events_table}")
    log.info("analysed the event log for the planner", table=events_table)
    return True


def _postgres_events_table(recorder: ApplicationRecorder, store: Store) -> str | None:
    """The events table's SQL name when the recorder and the store share a PostgreSQL
    database and schema, else None."""
    if not isinstance(store, PostgresStore):
        return None
    from eventsourcing.postgres import PostgresApplicationRecorder

    if not isinstance(recorder, PostgresApplicationRecorder):
        return None
    datastore = recorder.datastore
    same = (
        datastore.schema == store.schema
        and store.conninfo.get("dbname") == datastore.pool.kwargs.get("dbname")
        and str(store.conninfo.get("host")) == str(datastore.pool.kwargs.get("host"))
        and str(store.conninfo.get("port")) == str(datastore.pool.kwargs.get("port"))
    )
    if not same:
        return None
    return f'"{datastore.schema}"."{recorder.events_table_name}"'


def _postgres_reader(
    store: Store, events_table: str, topics: Sequence[str], *, uuids: bool
) -> Reader:
    assert isinstance(store, PostgresStore)
    only = "AND topic = ANY(%s) " if topics else ""
    # The ids as text when no UUID is wanted: the server writes them, and the client builds no
    # UUID object only to turn it into text (a twentieth of a rebuild's calling process).
    originator_id = "originator_id" if uuids else "originator_id::text"
    sql = (
        f"SELECT notification_id, {originator_id}, originator_version, topic, state "
        f"FROM {events_table} WHERE notification_id > %s AND notification_id <= %s {only}"
        "ORDER BY notification_id LIMIT %s"
    )
    wanted = [list(topics)] if topics else []

    def read_own(after: int, limit: int, until: int | None) -> Sequence[Notification]:
        bound = (1 << 62) if until is None else until
        rows = store._connected().execute(sql, (after, bound, *wanted, limit)).fetchall()
        return [_NotificationRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]  # type: ignore[misc]

    return read_own
