"""Following the notification log: every read model sees every event exactly once, in order.

Neither SQLite nor this use of PostgreSQL needs subscriptions: the follower pages through the
application's notification log (``recorder.select_notifications(after, limit,
inclusive_of_start=False)``) and gives each event to all its read models at the same time (see
Decoding below).

Exactly once. A batch (``batch_size`` notifications, 1,000 by default) is one database
transaction: the follower locks its tracking rows (``BEGIN IMMEDIATE`` in SQLite,
``SELECT ... FOR UPDATE`` in PostgreSQL), gives each read model the events after its own
position, lets each write its rows (``executemany``), moves the tracking rows to the batch's last
position (ignored events included) and commits. View and position commit together or not at
all, so a crash can neither skip nor repeat an event; a second follower (another process) waits
on the lock, then skips what the first one did and drops its caches.

Positions. Pages are read *after* the last position, never by offset: PostgreSQL notification ids
come from a sequence and have gaps (rolled-back inserts). An id cannot become visible after a
higher one has been read: the library inserts under ``LOCK TABLE ... IN EXCLUSIVE MODE`` until
commit, so PostgreSQL notification order is commit order (and SQLite has a single writer).

Memory. One batch of events, the rows it produces, and the read models' LRU caches (patients,
AEs, trials) of bounded size: a rebuild over any history runs in bounded memory.

Decoding. A model takes domain events (``handlers``), or events as stored (``stored_handlers``,
``takes_all_stored``: the JSON parsed without the domain decode, see ``projections.stored``).
An event is decoded into a domain event only when some model of the follower takes it so; the
stored handlers then read that event's attributes. A follower reads only the event classes its
models take (``topics``), unless one of them takes every event.

Parallel rebuild. Each read model has its own tracking row, and the audit trail (the costliest:
one ``audit_row`` per event) and the timeline's dose rows (three events in five) depend only on
their own patient map, so a big rebuild can follow them in a second process, which reads every
event as stored, while this one follows the rest, which decodes only the classes they take: two
readers, two writers, one commit per batch each. Used when the backlog exceeds
``PARALLEL_THRESHOLD`` events and the store can be reopened from its environment
(``build_projections``); ``workers=1`` turns it off.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteRecorder
from eventsourcing.utils import get_topic, resolve_topic

from projections import audit_trail as audit_queries
from projections import cohort_summary as cohort_queries
from projections import patient_timeline as timeline_queries
from projections import reminder_index as reminder_queries
from projections import safety_table as safety_queries
from projections import trial_overview as overview_queries
from projections.audit_trail import AuditPatients, AuditTrail
from projections.base import Handler, ReadModel, StoredHandler
from projections.cohort_summary import CohortSummary
from projections.directory import PatientDirectory
from projections.patient_timeline import PatientTimeline, TimelineDoses
from projections.reminder_index import ReminderIndex
from projections.safety_table import SafetyTable
from projections.store import TRACKING, SQLiteStore, Store, Table, Tx
from projections.stored import Stored, StoredDecoder, id_text
from projections.trial_overview import TrialOverview

DEFAULT_BATCH_SIZE = 1000
# A rebuild's batches: fewer transactions, page writes and lock hand-overs between the two
# processes of a parallel rebuild, for a few more MB per batch (events and rows held).
REBUILD_BATCH_SIZE = 5000
DEFAULT_CACHE_SIZE = 50_000
PARALLEL_THRESHOLD = 100_000
REPORTED_DIFFERENCES = 20
# The read models a parallel rebuild follows in the second process.
SECOND_GROUP = ("audit_patients", "audit_trail", "timeline_doses")
# progress(events processed so far, position reached, last position to reach)
Progress = Callable[[int, int, int], None]
Reader = Callable[[int, int, "int | None"], Sequence[Notification]]


class NotificationSource(Protocol):
    """Where events come from: the DoseLedger application (its recorder and mapper)."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> Mapper[Any]: ...


class SourceFactory(Protocol):
    """Builds the source from an environment: an importable class (the DoseLedger itself)."""

    __qualname__: str

    def __call__(self, *, env: Mapping[str, str]) -> NotificationSource: ...


def default_read_models(store: Store, *, cache_size: int = DEFAULT_CACHE_SIZE) -> list[ReadModel]:
    """Every read model, each after those it looks things up in."""
    directory = PatientDirectory(store, capacity=cache_size)
    audit_patients = AuditPatients(store, capacity=cache_size)
    cohorts = CohortSummary(store, capacity=max(1, cache_size // 5))
    return [
        directory,
        TrialOverview(store, capacity=max(1, cache_size // 5)),
        cohorts,
        ReminderIndex(store, cohorts, capacity=cache_size),
        PatientTimeline(store, directory),
        SafetyTable(store, directory),
        audit_patients,
        AuditTrail(store, audit_patients),
        TimelineDoses(store, audit_patients),
    ]


def create_indexes(store: Store, tables: Sequence[Table]) -> None:
    """Create the secondary indexes of tables (after a bulk load), one per transaction.

    One transaction each, so that the write lock is held for one index at a time (writers of
    events and the other follower of a parallel rebuild get their turn in between).
    """
    for table in tables:
        for statement in store.index_statements(table):
            with store.transaction() as tx:
                tx.execute(statement)


def notification_reader(
    source: NotificationSource, store: Store, topics: Sequence[str] = (), *, uuids: bool = True
) -> Reader:
    """``read(after, limit, until)``: the next page of the notification log (of ``topics``
    only, when given: the other events are skipped by the query, never decoded).

    Normally the recorder's ``select_notifications``. When the read models share the events'
    SQLite file, the same query runs on the store's own connection instead: a SQLite connection
    drops its page cache whenever another connection commits, so the recorder's connection
    would re-read every page after each of our batch commits, while ours keeps its cache warm.
    Same table, same ``rowid`` order, same Notification objects (``uuids=False``: with the
    originator ids as stored, for a follower that decodes no domain event).
    """
    recorder = source.recorder
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
        connection = store.connection

        def read_own(after: int, limit: int, until: int | None) -> Sequence[Notification]:
            bound = (1 << 62) if until is None else until
            rows = connection.execute(sql, (after, bound, *topics, limit)).fetchall()
            # The mapper reads a notification's fields by name: a tuple with those names is
            # a third of the cost of the library's frozen dataclass, for the same events.
            return [_Row(r[0], convert(r[1]), r[2], r[3], r[4]) for r in rows]  # type: ignore[misc]

        return read_own

    def read(after: int, limit: int, until: int | None) -> Sequence[Notification]:
        return recorder.select_notifications(
            after, limit, stop=until, topics=topics, inclusive_of_start=False
        )

    return read


def _topic(cls: type) -> str:
    """The topic an event class is stored under (ours name it explicitly)."""
    return str(getattr(cls, "TOPIC", None) or get_topic(cls))


class _Row(NamedTuple):
    """A notification as the store's own reader returns it (the fields of ``Notification``)."""

    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


@contextmanager
def _young_generation_gc() -> Iterator[Callable[[], None]]:
    """Collect only the young generations, once per batch, while following the log.

    Left automatic, Python's cyclic GC keeps rescanning the long-lived objects (caches, the
    application) as decoding allocates: a third of a rebuild's time. Events and rows hold no
    cycles, so reference counting frees them; the per-batch young collection still bounds any
    cyclic garbage to a few batches. The previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    batches = 0

    def collect() -> None:
        nonlocal batches
        batches += 1
        gc.collect(1 if batches % 10 == 0 else 0)

    try:
        yield collect
    finally:
        if was_enabled:
            gc.enable()


class _Plan(NamedTuple):
    """What the follower does with the events of one class."""

    cls: type
    typed: list[tuple[int, Handler]]  # handlers of the domain event
    stored: list[tuple[int, StoredHandler]]  # handlers of the event as stored
    class_version: int


class _PositionsMoved(Exception):
    """Another process reset a read model (a rebuild) under this follower's feet."""


class Follower:
    """Some read models following the log together: one decode, one transaction per batch."""

    def __init__(
        self, source: NotificationSource, store: Store, models: Sequence[ReadModel], batch_size: int
    ) -> None:
        self.source = source
        self.store = store
        self.models = list(models)
        self.names = [m.name for m in self.models]
        self.batch_size = batch_size
        self.stopping = threading.Event()
        self.stopped = False  # the last catch-up ended on stop() rather than at the end
        self._handlers = [m.handlers() for m in self.models]
        self._stored = [m.stored_handlers() for m in self.models]
        self.decoder = StoredDecoder(source.mapper)
        # Followers of a few event classes (the reminder tick's, the webhook outbox) read only
        # those: their positions then stop at the last event they read, which is harmless.
        self.topics: tuple[str, ...] = (
            ()
            if any(m.takes_all_stored for m in self.models)
            else tuple(
                sorted(
                    {_topic(c) for handlers in self._handlers for c in handlers}
                    | {_topic(c) for handlers in self._stored for c in handlers}
                )
            )
        )
        decodes = any(self._handlers)
        self._read = notification_reader(source, store, self.topics, uuids=decodes)
        self._plans: dict[str, _Plan] = {}
        self._committed: list[int] | None = None
        t = store.qualified(TRACKING.name)
        self._select_positions = (
            f"SELECT name, position FROM {t} WHERE name IN ({', '.join('?' * len(self.names))})"
        )
        self._set_position = f"UPDATE {t} SET position = ? WHERE name = ?"

    def positions(self, tx: Tx, *, lock: bool = False) -> dict[str, int]:
        """Each read model's tracking position."""
        sql = self._select_positions + (self.store.lock_clause if lock else "")
        found = dict(tx.fetchall(sql, self.names))
        return {name: int(found.get(name, 0)) for name in self.names}

    def catch_up(self, progress: Progress | None = None, *, until: int | None = None) -> int:
        """Process the events after the positions (up to ``until``); returns how many."""
        with _young_generation_gc() as collect:
            return self._catch_up(progress, until, collect)

    def _catch_up(
        self, progress: Progress | None, until: int | None, collect: Callable[[], None]
    ) -> int:
        processed = 0
        self.stopped = False
        try:
            with self.store.snapshot() as tx:
                start = min(self.positions(tx).values())
            head = self.source.recorder.max_notification_id() or 0
            head = head if until is None else min(head, until)
            while not self.stopping.is_set():
                notifications = self._read(start, self.batch_size, until)
                if not notifications:
                    break
                try:
                    self._process(notifications, start)
                except _PositionsMoved:
                    with self.store.snapshot() as tx:
                        start = min(self.positions(tx).values())
                    continue
                processed += len(notifications)
                start = notifications[-1].id
                last_page = len(notifications) < self.batch_size
                del notifications
                collect()
                if progress is not None:
                    progress(processed, start, max(head, start))
                if last_page:
                    break
            self.stopped = self.stopping.is_set()
        finally:
            self.stopping.clear()
        return processed

    def _plan(self, topic: str) -> _Plan:
        cls = resolve_topic(topic)
        typed: list[tuple[int, Handler]] = []
        stored: list[tuple[int, StoredHandler]] = []
        for index, model in enumerate(self.models):
            handler = self._handlers[index].get(cls)
            if handler is not None:
                typed.append((index, handler))
            on_stored = self._stored[index].get(cls)
            if on_stored is None and model.takes_all_stored:
                on_stored = model.handle_stored
            if on_stored is not None:
                stored.append((index, on_stored))
        plan = _Plan(cls, typed, stored, getattr(cls, "class_version", 1))
        self._plans[topic] = plan
        return plan

    def _stored_event(self, notification: Notification, plan: _Plan) -> Stored:
        """The event as stored, for stored handlers (no domain event decoded)."""
        data = self.decoder.data(notification.state)
        if data is None or data.get("class_version", 1) < plan.class_version:
            # Not JSON, or stored by an older version of the class: the mapper upcasts.
            return Stored.of_event(self.source.mapper.to_domain_event(notification))
        return Stored(
            plan.cls,
            id_text(notification.originator_id),
            notification.originator_version,
            data,
            self.decoder,
        )

    def _process(self, batch: Sequence[Notification], start: int) -> None:
        """Apply one batch to every read model and move their positions, in one transaction.

        The handlers run first, in a read snapshot (for look-ups that miss the caches); only
        the writes hold the write lock: the rows and the tracking rows, in one transaction that
        first checks that the positions are still those the handlers started from (another
        process writing these read models would have moved them). So the events' writers, or
        a second follower, wait for the writes only, never for the work of a whole batch.
        """
        models = self.models
        plans = self._plans
        to_domain_event = self.source.mapper.to_domain_event
        last = batch[-1].id
        try:
            with self.store.snapshot() as tx:
                by_name = self.positions(tx)
                positions = [by_name[name] for name in self.names]
                if min(positions) < start:
                    raise _PositionsMoved
                if positions != self._committed:
                    # First batch, or another process moved the positions: caches may be stale.
                    for model in models:
                        model.reset()
                for model in models:
                    model.begin(tx)
                # The usual case: every read model takes every event of the batch.
                every = max(positions) <= start
                try:
                    for notification in batch:
                        plan = plans.get(notification.topic) or self._plan(notification.topic)
                        position = notification.id
                        if plan.typed:
                            event = to_domain_event(notification)
                            for index, handler in plan.typed:
                                if every or position > positions[index]:
                                    handler(position, event)
                            if not plan.stored:
                                continue
                            stored = Stored.of_event(event)
                        elif plan.stored:
                            stored = self._stored_event(notification, plan)
                        else:
                            continue
                        for index, on_stored in plan.stored:
                            if every or position > positions[index]:
                                on_stored(position, stored)
                finally:
                    for model in models:
                        model.end()
            with self.store.transaction() as tx:
                locked = self.positions(tx, lock=True)
                if [locked[name] for name in self.names] != positions:
                    raise _PositionsMoved
                for model in models:
                    model.flush(tx)
                moved = [
                    (last, name) for name, p in zip(self.names, positions, strict=True) if p < last
                ]
                tx.executemany(self._set_position, moved)
            self._committed = [max(p, last) for p in positions]
        except BaseException:
            self._committed = None
            for model in models:
                model.reset()
            raise


@dataclass
class Difference:
    """One row that differs between the live read models and a rebuild from zero."""

    read_model: str
    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        """The difference as plain data."""
        return {
            "read_model": self.read_model,
            "table": self.table,
            "key": self.key,
            "live": self.live,
            "rebuilt": self.rebuilt,
        }


@dataclass
class CheckReport:
    """The outcome of :meth:`Projections.check`."""

    position: int
    rows: int = 0
    count: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when the live read models equal a rebuild from zero."""
        return self.count == 0

    def add(self, difference: Difference) -> None:
        """Count a difference (the first few are kept for the report)."""
        self.count += 1
        if len(self.differences) < REPORTED_DIFFERENCES:
            self.differences.append(difference)

    def as_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "equal": self.equal,
            "position": self.position,
            "rows_compared": self.rows,
            "differences": self.count,
            "shown": [d.as_json() for d in self.differences],
        }


class Projections:
    """The read models of one store, the follower that keeps them current, and their queries."""

    def __init__(
        self,
        source: NotificationSource,
        store: Store,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        read_models: Callable[[Store], list[ReadModel]] | None = None,
        reopen: SourceFactory | None = None,
        env: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.source = source
        self.store = store
        self.batch_size = batch_size
        self.cache_size = cache_size
        # How a second process opens the same source and store (parallel runs): a picklable
        # callable (the application class) and the eventsourcing environment.
        self.reopen = reopen
        self.env = None if env is None else dict(env)
        self._factory = read_models or (lambda s: default_read_models(s, cache_size=cache_size))
        self.read_models = self._factory(store)
        self.names = [m.name for m in self.read_models]
        self.follower = Follower(source, store, self.read_models, batch_size)
        self._on_close = on_close
        self._schema_ready = False
        t = store.qualified(TRACKING.name)
        self._init_position = (
            f"INSERT INTO {t} (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING"
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def tables(self) -> list[Table]:
        """Every table of every read model."""
        return [table for model in self.read_models for table in model.tables]

    def stop(self) -> None:
        """Ask a running catch-up (or rebuild) to stop after the batch in progress."""
        self.follower.stopping.set()

    def close(self) -> None:
        """Close the store's connection (and the application, when this object built it)."""
        self.store.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> Projections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        """Create missing tables, indexes and tracking rows."""
        if self._schema_ready:
            return
        with self.store.transaction() as tx:
            self._create(tx, indexes=True)
        self._schema_ready = True

    def _create(self, tx: Tx, *, indexes: bool) -> None:
        self.store.schema_lock(tx)
        for table in (TRACKING, *self.tables):
            for statement in self.store.create_statements(table):
                tx.execute(statement)
            if indexes:
                for statement in self.store.index_statements(table):
                    tx.execute(statement)
        tx.executemany(self._init_position, [(name,) for name in self.names])

    def positions(self) -> dict[str, int]:
        """Each read model's tracking position (0 before its first event)."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            return self.follower.positions(tx)

    # ----------------------------------------------------------------- following the log

    def catch_up(
        self, progress: Progress | None = None, *, until: int | None = None, workers: int = 1
    ) -> dict[str, int]:
        """Process every event after the read models' positions (up to ``until``, if given).

        ``workers=2`` follows the audit trail and the dose rows in a second process (see the
        module's notes).
        Returns ``{"processed": events read, "position": lowest position reached, "workers":
        processes used}``.
        """
        return self._follow(progress, until, workers, self.batch_size, bulk=False)

    def _follow(
        self,
        progress: Progress | None,
        until: int | None,
        workers: int,
        batch_size: int,
        *,
        bulk: bool,
    ) -> dict[str, int]:
        self.ensure_schema()
        parallel = self.reopen is not None and self.env is not None
        if workers > 1 and parallel and set(SECOND_GROUP) <= set(self.names):
            processed = self._catch_up_in_parallel(progress, until, batch_size, bulk)
        else:
            self.follower.batch_size = batch_size
            try:
                processed, workers = self.follower.catch_up(progress, until=until), 1
            finally:
                self.follower.batch_size = self.batch_size
        return {
            "processed": processed,
            "position": min(self.positions().values()),
            "workers": workers,
        }

    def _catch_up_in_parallel(
        self, progress: Progress | None, until: int | None, batch_size: int, bulk: bool
    ) -> int:
        assert self.env is not None and self.reopen is not None
        first = [m for m in self.read_models if m.name not in SECOND_GROUP]
        follower = Follower(self.source, self.store, first, batch_size)
        self.follower.stopping = follower.stopping  # stop() reaches this process's follower
        request = {
            "source": f"{self.reopen.__module__}:{self.reopen.__qualname__}",
            "env": self.env,
            "names": list(SECOND_GROUP),
            "batch_size": batch_size,
            "cache_size": self.cache_size,
            "until": until,
            "bulk": bulk,
        }
        with subprocess.Popen(
            [sys.executable, "-m", "projections.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as worker:
            try:
                assert worker.stdin and worker.stdout and worker.stderr
                worker.stdin.write(json.dumps(request))  # the environment (password): not argv
                worker.stdin.close()
                processed = follower.catch_up(progress, until=until)
                if follower.stopped:
                    worker.terminate()  # its open batch rolls back; positions stay consistent
                elif bulk:
                    # A rebuild: this process's indexes now, while the worker may still be
                    # following (it creates those of its own tables when it is done).
                    create_indexes(self.store, [t for m in first for t in m.tables])
                err = worker.stderr.read()  # a line at most: no pipe fills while we read
                out = worker.stdout.read()
                worker.wait()
            except BaseException:
                worker.kill()
                raise
            finally:
                self.follower.stopping = threading.Event()
        if worker.returncode != 0 and not follower.stopped:
            lines = err.strip().splitlines()
            raise RuntimeError(
                f"the second follower failed: {lines[-1] if lines else worker.returncode}"
            )
        if worker.returncode == 0:
            # This process reads only the classes its models take; the worker reads them all.
            processed = max(processed, int(json.loads(out)["processed"]))
        return processed

    def rebuild(
        self,
        progress: Progress | None = None,
        *,
        until: int | None = None,
        workers: int | None = None,
    ) -> dict[str, Any]:
        """Drop every read model and build it again from the first event.

        ``workers``: 2 follows the audit trail and the dose rows in a second process, 1 does
        not; by default 2 when the log holds at least ``PARALLEL_THRESHOLD`` events and there
        are two CPUs.
        A rebuild reads batches of at least REBUILD_BATCH_SIZE events, writes in the store's
        bulk-load mode (``Store.bulk_load``) and creates the secondary indexes after the
        rows (each process those of its own tables, as soon as it is done).
        Returns the events processed, the position reached and the rows of each table.
        """
        with self.store.transaction() as tx:
            for table in self.tables:
                for statement in self.store.drop_statements(table):
                    tx.execute(statement)
            self._create(tx, indexes=False)  # indexes after the bulk load: cheaper
            tx.executemany(
                f"UPDATE {self.store.qualified(TRACKING.name)} SET position = 0 WHERE name = ?",
                [(name,) for name in self.names],
            )
        for model in self.read_models:
            model.reset()
        self._schema_ready = True
        if workers is None:
            head = self.source.recorder.max_notification_id() or 0
            head = head if until is None else min(head, until)
            workers = 2 if head >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) >= 2 else 1
        batch_size = max(self.batch_size, REBUILD_BATCH_SIZE)
        with self.store.bulk_load():
            result = self._follow(progress, until, workers, batch_size, bulk=True)
            create_indexes(self.store, self.tables)  # after the bulk load: cheaper
            rows = self.counts()  # (counting reads every page: with the bulk-load cache too)
        return {
            "events": result["processed"],
            "position": result["position"],
            "workers": result["workers"],
            "rows": rows,
        }

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        self.ensure_schema()
        counts = {}
        with self.store.snapshot() as tx:
            for table in self.tables:
                found = tx.fetchone(f"SELECT COUNT(*) FROM {self.store.qualified(table.name)}")
                counts[table.name] = int(found[0]) if found else 0
        return counts

    # ----------------------------------------------------------------- check

    def check(self, progress: Progress | None = None) -> CheckReport:
        """Rebuild every read model into a scratch SQLite file and compare it with the live ones.

        The live tables are read in one snapshot, and the scratch rebuild stops at the live
        position: a follower running meanwhile does not make a difference.
        """
        self.ensure_schema()
        with tempfile.TemporaryDirectory(prefix="doseledger-check-") as folder:
            scratch = Projections(
                self.source,
                SQLiteStore(os.path.join(folder, "scratch.db")),
                batch_size=self.batch_size,
                cache_size=self.cache_size,
                read_models=self._factory,
            )
            try:
                with self.store.snapshot() as live:
                    positions = self.follower.positions(live)
                    position = max(positions.values())
                    report = CheckReport(position)
                    for name, at in positions.items():
                        if at != position:
                            report.add(
                                Difference(
                                    name,
                                    TRACKING.name,
                                    {"name": name},
                                    {"position": at},
                                    {"position": position},
                                )
                            )
                    scratch.rebuild(progress, until=position, workers=1)
                    with scratch.store.snapshot() as rebuilt:
                        for model in self.read_models:
                            for table in model.tables:
                                _compare(model.name, table, self.store, live, scratch.store,
                                         rebuilt, report)  # fmt: skip
            finally:
                scratch.store.close()
        return report

    # ----------------------------------------------------------------- queries

    def cohort_summary(self, trial_id: UUID) -> dict[str, Any]:
        """Per cohort and dose level: enrolled, evaluable, DLTs, recommendation, decision."""
        with self._reading() as tx:
            return cohort_queries.cohort_summary(tx, self.store, trial_id)

    def trial_overview(self, trial_id: UUID) -> dict[str, Any]:
        """Status, current level, MTD and counts of one trial."""
        with self._reading() as tx:
            return overview_queries.trial_overview(tx, self.store, trial_id)

    def trial_overviews(self) -> list[dict[str, Any]]:
        """Every trial's overview, in registration order."""
        with self._reading() as tx:
            return overview_queries.trial_overviews(tx, self.store)

    def patient_timeline(
        self,
        patient_id: UUID,
        *,
        after: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Every clinical happening of one patient (at most ``limit`` after the key
        (position, seq) ``after``)."""
        with self._reading() as tx:
            return timeline_queries.patient_timeline(
                tx, self.store, patient_id, after=after, limit=limit
            )

    def safety_table(self, trial_id: UUID) -> dict[str, Any]:
        """Patients by AE term × worst grade × dose level."""
        with self._reading() as tx:
            return safety_queries.safety_table(tx, self.store, trial_id)

    def audit_trail(
        self,
        trial_id: UUID,
        as_of: dt.datetime | None = None,
        *,
        after: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """One row per event of the trial and its patients (up to ``as_of``, UTC); at most
        ``limit`` after the position ``after``."""
        with self._reading() as tx:
            return audit_queries.audit_trail(
                tx, self.store, trial_id, as_of, after=after, limit=limit
            )

    def reminders(self, *, at: dt.datetime, **filters: Any) -> list[dict[str, Any]]:
        """Reminders by trial, patient, kind, state, due time or site (``find_reminders``)."""
        with self._reading() as tx:
            return reminder_queries.find_reminders(tx, self.store, at=at, **filters)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table in key order, and the positions (tests; small stores)."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            data: dict[str, list[tuple[Any, ...]]] = {
                "tracking": sorted(self.follower.positions(tx).items())
            }
            for table in self.tables:
                data[table.name] = list(tx.stream(_select_ordered(self.store, table)))
            return data

    def _reading(self) -> Any:
        self.ensure_schema()
        return self.store.snapshot()


def _select_ordered(store: Store, table: Table) -> str:
    return (
        f"SELECT {', '.join(table.column_names)} FROM {store.qualified(table.name)} "
        f"ORDER BY {store.order_by(table)}"
    )


def _compare(
    name: str, table: Table, store: Store, live: Tx, other: Store, rebuilt: Tx, report: CheckReport
) -> None:
    """Merge two key-ordered streams of one table and report the rows that differ."""
    columns = table.column_names
    key_index = [columns.index(k) for k in table.key]

    def rows(store: Store, tx: Tx) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        for row in tx.stream(_select_ordered(store, table)):
            yield tuple(row[i] for i in key_index), tuple(row)

    def differ(key: tuple[Any, ...], a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> None:
        report.add(
            Difference(
                name,
                table.name,
                dict(zip(table.key, key, strict=True)),
                None if a is None else dict(zip(columns, a, strict=True)),
                None if b is None else dict(zip(columns, b, strict=True)),
            )
        )

    left, right = rows(store, live), rows(other, rebuilt)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        report.rows += 1
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            differ(a[0], a[1], None)
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            differ(b[0], None, b[1])
            b = next(right, None)
        else:
            if a[1] != b[1]:
                differ(a[0], a[1], b[1])
            a, b = next(left, None), next(right, None)
