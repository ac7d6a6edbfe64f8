"""The read-model runner: follows the notification log and feeds every read model in one batch.

Every read model sees every event exactly once, in order. The runner pages through the
application's notification log (``recorder.select_notifications(after, limit,
inclusive_of_start=False)``) and gives each event to all its read models at the same time (see
Decoding below). One runner per process follows the log (``adapters.read_models``).

Exactly once. A batch (``batch_size`` notifications, 1,000 by default) is one database
transaction: the runner locks its tracking rows (``BEGIN IMMEDIATE`` in SQLite,
``SELECT ... FOR UPDATE`` in PostgreSQL), gives each read model the events after its own
position, lets each write its rows (``ReadModel.flush``), moves the tracking rows to the
batch's last position (ignored events included) and commits. View and position commit
together or not at all, so a crash can neither skip nor repeat an event; a runner of another
process waits on the lock, then skips what the first one did and drops its caches.

Why not the library's ``ProjectionRunner``: its ``Projection.process_event(event, tracking)``
records each event with its tracking in a transaction of its own; a batch of a thousand events
in one transaction is what keeps a rebuild near the cost of reading the log. The read models
keep the library's shape (``topics``, ``process_event``) on ``ReadModel``.

Positions. Pages are read *after* the last position, never by offset: PostgreSQL notification ids
come from a sequence and have gaps (rolled-back inserts). An id cannot become visible after a
higher one has been read: the library inserts under ``LOCK TABLE ... IN EXCLUSIVE MODE`` until
commit, so PostgreSQL notification order is commit order (and SQLite has a single writer).

Memory. One batch of events, the rows it produces, and the read models' LRU caches (patients,
AEs, trials) of bounded size: a rebuild over any history runs in bounded memory.

Decoding. A model takes domain events (``handlers``), or events as stored (``stored_handlers``,
``takes_all_stored``: the JSON parsed without the domain decode, see ``projections.undecoded``).
An event is decoded into a domain event only when some model of the runner takes it so; the
stored handlers then read that event's attributes. A runner reads only the event classes its
models take (``topics``), unless one of them takes every event.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple, Protocol

import structlog
from eventsourcing.persistence import Notification
from eventsourcing.utils import TopicError, resolve_topic

from projections import failures as stops
from projections.failures import Stopped
from projections.log_reader import NotificationSource, notification_head, notification_reader
from projections.models.base import Handler, ReadModel, UndecodedHandler
from projections.row_statements import RowStatement
from projections.store import TRACKING, Store, Transaction
from projections.undecoded import StoredJsonDecoder, UndecodedEvent, id_text

DEFAULT_BATCH_SIZE = 1000
log = structlog.get_logger("doseledger.read_models")
# A stopped read model's position, as the batch sees it: past every event, so it takes none.
_PAST_EVERY_EVENT = 1 << 62
# What was running when a handler raised (index below 0: no model's handler yet).
_POSITIONS, _ROUTING, _DECODING, _UNDECODING = -4, -3, -2, -1
# progress(events processed so far, position reached, last position to reach)
Progress = Callable[[int, int, int], None]


class SourceFactory(Protocol):
    """Builds the source from an environment: an importable class (the ledger's EventLog)."""

    __qualname__: str

    def __call__(self, *, env: Mapping[str, str]) -> NotificationSource: ...


@contextmanager
def _young_generation_gc(every: int) -> Iterator[Callable[[int], None]]:
    """Collect only the young generations, once per ``every`` events, while following the log.

    Left automatic, Python's cyclic GC keeps rescanning the long-lived objects (caches, the
    application) as decoding allocates: a third of a rebuild's time. Events and rows hold no
    cycles, so reference counting frees them; a young collection every ``every`` events still
    bounds any cyclic garbage. Counted in events, not batches: a live runner's batches are a
    few events each, and a collection after each cost more than the batch (issue 13's HTTP
    benchmark). The previous state is restored afterwards (automatic collection, as a rule).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    collections = 0
    pending = 0

    def collect(events: int) -> None:
        nonlocal collections, pending
        pending += events
        if pending < every:
            return
        pending = 0
        collections += 1
        gc.collect(1 if collections % 10 == 0 else 0)

    try:
        yield collect
    finally:
        if was_enabled:
            gc.enable()


class EventRoute(NamedTuple):
    """Which read models take the events of one class, and how (decoded or as stored)."""

    cls: type
    decoded: list[tuple[int, Handler]]  # (model index, handler of the domain event)
    undecoded: list[tuple[int, UndecodedHandler]]  # (model index, handler of the stored event)
    class_version: int


class PositionsMoved(Exception):
    """Another process moved or reset a read model (a rebuild) under this runner's feet."""


class ReadModelFailed(PositionsMoved):
    """A read model could not process an event: it is stopped, the batch is read again."""


class ReadModelRunner:
    """Read models following the log together: one decode, one transaction per batch."""

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
        # The read models each one looks things up in (a model it holds): stopped with them.
        self.reads_from = {
            m.name: [v.name for v in vars(m).values() if isinstance(v, ReadModel)]
            for m in self.models
        }
        # Read models not fed (their failures, recorded in the store): read at each catch-up.
        self.stopped_models: dict[str, Stopped] = {}
        self._stored = [m.stored_handlers() for m in self.models]
        self.decoder = StoredJsonDecoder(source.mapper)
        # A runner of models that take a few event classes reads only those: its positions
        # then stop at the last event it read, which is harmless.
        self.topics: tuple[str, ...] = (
            ()
            if any(m.takes_all_stored for m in self.models)
            else tuple(sorted({topic for m in self.models for topic in m.topics}))
        )
        decodes = any(self._handlers)
        self._read = notification_reader(source, store, self.topics, uuids=decodes)
        self.head = notification_head(source, store)
        self._routes: dict[str, EventRoute] = {}
        self._committed: list[int] | None = None
        t = store.qualified(TRACKING.name)
        self._select_positions = (
            f"SELECT name, position FROM {t} WHERE name IN ({', '.join('?' * len(self.names))})"
        )
        self._set_position = RowStatement(f"UPDATE {t} SET position = ? WHERE name = ?", key=(1,))

    def load_stopped(self, tx: Transaction) -> dict[str, Stopped]:
        """The read models of this runner that are stopped (as recorded in the store)."""
        found = stops.stopped_models(stops.load(tx), self.reads_from)
        self.stopped_models = {n: s for n, s in found.items() if n in self.reads_from}
        return self.stopped_models

    def _start(self, tx: Transaction) -> int | None:
        """The lowest position of the read models that are fed (None: every one is stopped)."""
        stopped = self.load_stopped(tx)
        fed = [p for n, p in self.positions(tx).items() if n not in stopped]
        return min(fed) if fed else None

    def positions(self, tx: Transaction, *, lock: bool = False) -> dict[str, int]:
        """Each read model's tracking position."""
        sql = self._select_positions + (self.store.lock_clause if lock else "")
        found = dict(tx.fetchall(sql, self.names))
        return {name: int(found.get(name, 0)) for name in self.names}

    def catch_up(self, progress: Progress | None = None, *, until: int | None = None) -> int:
        """Process the events after the positions (up to ``until``); returns how many."""
        with _young_generation_gc(self.batch_size) as collect:
            return self._catch_up(progress, until, collect)

    def _catch_up(
        self, progress: Progress | None, until: int | None, collect: Callable[[int], None]
    ) -> int:
        processed = 0
        self.stopped = False
        try:
            with self.store.snapshot() as tx:
                first = self._start(tx)
            if first is None:
                return 0
            start = first
            # The log's head only scales a progress bar: not read for a plain catch-up.
            head = 0
            if progress is not None:
                head = self.head()
                head = head if until is None else min(head, until)
            while not self.stopping.is_set():
                notifications = self._read(start, self.batch_size, until)
                if not notifications:
                    break
                try:
                    self._process(notifications, start)
                except PositionsMoved:  # or ReadModelFailed: the others go on without it
                    with self.store.snapshot() as tx:
                        first = self._start(tx)
                    if first is None:
                        break
                    start = first
                    continue
                count = len(notifications)
                processed += count
                start = notifications[-1].id
                last_page = count < self.batch_size
                del notifications
                collect(count)
                if progress is not None:
                    progress(processed, start, max(head, start))
                if last_page:
                    break
            self.stopped = self.stopping.is_set()
        finally:
            self.stopping.clear()
        return processed

    def _route(self, topic: str) -> EventRoute:
        try:
            cls = resolve_topic(topic)
        except TopicError as exc:
            return self._unresolved(exc)
        decoded: list[tuple[int, Handler]] = []
        undecoded: list[tuple[int, UndecodedHandler]] = []
        for index, model in enumerate(self.models):
            handler = self._handlers[index].get(cls)
            if handler is not None:
                decoded.append((index, handler))
            on_stored = self._stored[index].get(cls)
            if on_stored is None and model.takes_all_stored:
                on_stored = model.handle_stored
            if on_stored is not None:
                undecoded.append((index, on_stored))
        route = EventRoute(cls, decoded, undecoded, getattr(cls, "class_version", 1))
        self._routes[topic] = route
        return route

    def _unresolved(self, error: TopicError) -> EventRoute:
        """The route of an event whose class is not found (renamed without its old topic
        registered): only the models taking every event take it, and fail on it. Not kept:
        after a fix (the old topic registered), a retry finds the class."""

        def unresolved(position: int, stored: UndecodedEvent) -> None:
            raise error

        takers = [(i, unresolved) for i, m in enumerate(self.models) if m.takes_all_stored]
        return EventRoute(object, [], takers, 1)

    def _undecoded(self, notification: Notification, route: EventRoute) -> UndecodedEvent:
        """The event as stored, for stored handlers (no domain event decoded)."""
        data = self.decoder.data(notification.state)
        if data is None or data.get("class_version", 1) < route.class_version:
            # Not JSON, or stored by an older version of the class: the mapper upcasts.
            return UndecodedEvent.of_event(self.source.mapper.to_domain_event(notification))
        return UndecodedEvent(
            route.cls,
            id_text(notification.originator_id),
            notification.originator_version,
            data,
            self.decoder,
        )

    def _failed_models(self, index: int, notification: Notification, fed: list[int]) -> list[int]:
        """The models that could not process ``notification``: the one whose handler raised,
        or (the event could not be routed or decoded) every one that would have taken it."""
        if index >= 0:
            return [index]
        if index == _POSITIONS:
            return []
        takers = [i for i, p in enumerate(fed) if p < notification.id]
        route = self._routes.get(notification.topic)
        if route is None:  # the topic resolves to no class: the models taking every event
            return [i for i in takers if self.models[i].takes_all_stored] or takers
        wanted = {i for i, _ in route.undecoded}
        if index == _DECODING:
            wanted |= {i for i, _ in route.decoded}
        return [i for i in takers if i in wanted]

    def _stop(
        self,
        failed: list[int],
        notification: Notification | None,
        batch: Sequence[Notification],
        fed: list[int],
        error: BaseException,
    ) -> None:
        """Record the failures (own transaction), log each new one once, stop the models.

        ``notification``: the event a handler failed on (None: writing the batch failed, and
        the failure names the first event of the batch the model took)."""
        found = []
        for index in failed:
            at = notification or next((n for n in batch if n.id > fed[index]), batch[0])
            found.append(
                stops.failure_of(
                    self.names[index],
                    at.id,
                    at.topic,
                    id_text(at.originator_id),
                    at.originator_version,
                    error,
                )
            )
        for failure in stops.record(self.store, found):
            log.error(
                "read model stopped: it could not process an event",
                read_model=failure.read_model,
                position=failure.position,
                topic=failure.topic,
                originator_id=failure.originator_id,
                originator_version=failure.originator_version,
                error=failure.error,
            )
        with self.store.snapshot() as tx:
            self.load_stopped(tx)

    def _process(self, batch: Sequence[Notification], start: int) -> None:
        """Apply one batch to every read model and move their positions, in one transaction.

        The handlers run first, in a read snapshot (for look-ups that miss the caches); only
        the writes hold the write lock: the rows and the tracking rows, in one transaction that
        first checks that the positions are still those the handlers started from (another
        process writing these read models would have moved them). So the events' writers, or
        a runner of another process, wait for the writes only, never for a whole batch's work.

        A handler (or a flush) that raises, other than on a store error, stops its read model
        (``projections.failures``): the failure is recorded and the batch is read again
        without it (``ReadModelFailed``), so the other read models go on.
        """
        models = self.models
        routes = self._routes
        to_domain_event = self.source.mapper.to_domain_event
        last = batch[-1].id
        stopped = self.stopped_models
        index = _POSITIONS  # set to the model at work (or what the runner does) as it goes
        notification = batch[0]
        flushing = False
        fed: list[int] = []
        try:
            with self.store.snapshot() as tx:
                by_name = self.positions(tx)
                positions = [by_name[name] for name in self.names]
                # What each model takes: the events after its position (a stopped one: none).
                fed = [
                    _PAST_EVERY_EVENT if name in stopped else p
                    for name, p in zip(self.names, positions, strict=True)
                ]
                if min(fed) < start:
                    raise PositionsMoved
                if positions != self._committed:
                    # First batch, or another process moved the positions: caches may be stale.
                    for model in models:
                        model.reset()
                for model in models:
                    model.begin(tx)
                # The usual case: every read model takes every event of the batch.
                every = not stopped and max(positions) <= start
                try:
                    for notification in batch:
                        index = _ROUTING
                        route = routes.get(notification.topic) or self._route(notification.topic)
                        position = notification.id
                        if route.decoded:
                            index = _DECODING
                            event = to_domain_event(notification)
                            for index, handler in route.decoded:
                                if every or position > fed[index]:
                                    handler(position, event)
                            if not route.undecoded:
                                continue
                            index = _UNDECODING
                            stored = UndecodedEvent.of_event(event)
                        elif route.undecoded:
                            index = _UNDECODING
                            stored = self._undecoded(notification, route)
                        else:
                            continue
                        for index, on_stored in route.undecoded:
                            if every or position > fed[index]:
                                on_stored(position, stored)
                finally:
                    for model in models:
                        model.end()
            index, flushing = _POSITIONS, True
            with self.store.transaction() as tx:
                locked = self.positions(tx, lock=True)
                if [locked[name] for name in self.names] != positions:
                    raise PositionsMoved
                for index, model in enumerate(models):  # noqa: B007 (the failed one, if any)
                    model.flush(tx)
                index = _POSITIONS  # the runner's own writes: no read model's failure
                moved = [
                    (last, name)
                    for name, p in zip(self.names, fed, strict=True)
                    if p < last and name not in stopped
                ]
                tx.executemany(self._set_position, moved)
            self._committed = [
                p if n in stopped else max(p, last)
                for n, p in zip(self.names, positions, strict=True)
            ]
        except Exception as exc:
            self._committed = None
            for model in models:
                model.reset()
            if isinstance(exc, PositionsMoved) or stops.is_store_error(exc):
                raise
            failed = self._failed_models(index, notification, fed)
            if not failed:
                raise
            self._stop(failed, None if flushing else notification, batch, fed, exc)
            raise ReadModelFailed from exc
        except BaseException:
            self._committed = None
            for model in models:
                model.reset()
            raise
