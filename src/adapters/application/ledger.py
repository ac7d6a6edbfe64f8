"""The ledger's plumbing: the library's Application with our save, loading and caching.

Everything a command module needs and nothing it decides: ``load`` (an aggregate by type, within
a unit of work, with an If-Match version checked), ``record`` (save atomically, a lost race as
``ConcurrencyConflict``, logged and counted), ``after_commit`` listeners, the clinical-date
transcoding and the snapshot settings. The commands and queries are mixins on it
(``trials``, ``patients``, ``corrections``, ``queries``, ``exports``), put together as
``DoseLedger`` in the package's ``__init__``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

import adapters.application.aggregates  # noqa: F401  (every stored topic resolves)
from adapters.application.unit_of_work import UnitOfWork
from adapters.clock import Clock, utc_now
from adapters.persistence.caching import CachingApplication
from adapters.persistence.environment import LEDGER_NAME
from adapters.persistence.state_copy import clone_aggregate
from adapters.persistence.transcodings import register_transcodings
from domain.ctcae import CtcaeCatalogue
from domain.errors import ConcurrencyConflict, NotFound, VersionMismatch
from domain.patient import Patient
from domain.rules import DoseRecommendation
from domain.site_time import local_date
from domain.trial import Trial

A = TypeVar("A", bound=Aggregate)
OptionalWork = UnitOfWork | None  # a request's unit of work, or none (the CLI, scripts)
log = structlog.get_logger("doseledger.services")


class Ledger(CachingApplication):
    """The application's plumbing (module docstring); ``DoseLedger`` adds the commands."""

    name = LEDGER_NAME
    # Loaded aggregates are cached and fast-forwarded with any newer stored events before use,
    # so several service instances on one store still see each other's writes.
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "5000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    # Snapshots: after every Nth event of a trial or patient its state at that version is stored
    # (persistence.snapshots), so a load reads the latest snapshot and fewer than N later events,
    # however long the history: a short tail bounds a patient's load (docs/benchmarks.md); trial
    # snapshots carry the whole protocol, and trials have short histories. Taken with our
    # projector (`_replay` is defined below the class, hence the lambdas).
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Trial: 50, Patient: 20}
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {
        Trial: lambda aggregate, events: _replay(aggregate, events),
        Patient: lambda aggregate, events: _replay(aggregate, events),
    }

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.catalogue = CtcaeCatalogue.load()
        # What time it is for scheduled work (reminder ticks): one injectable clock per ledger.
        self.clock = clock
        # Domain events this instance appended (read by the HTTP /metrics counter).
        self.events_appended = 0
        self._appended_lock = threading.Lock()
        # Called after each commit of this instance: wakes the process's read-model runner.
        self.after_commit: list[Callable[[], None]] = []

    def save(
        self, *objs: Any, uow: UnitOfWork | None = None, **kwargs: Any
    ) -> list[Recording[UUID]]:
        """The library's save, collecting our aggregates' events with a nominal type check;
        within ``uow``, the commit marks its Idempotency-Key claim and is counted.

        The library checks each object against two runtime protocols, which costs more than the
        rest of a command's Python work (docs/benchmarks.md); the rest is the library's own
        sequence: record, snapshot, notify.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        if uow is not None:
            for key, value in uow.save_kwargs().items():
                processing_event.saved_kwargs.setdefault(key, value)
        recordings = self._record(processing_event)
        self._cache_saved(processing_event.aggregates, uow)
        if uow is not None:
            uow.commits.append(len(recordings))
            if recordings:
                uow.positions.append(recordings[-1].notification.id)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _cache_saved(self, aggregates: Mapping[UUID, Any], uow: UnitOfWork | None) -> None:
        """Committed, the saved aggregates are the cache's (the library puts them only when it
        does not fast-forward): the next command on them reads no event. They are not to be
        changed again: a later load by a command in ``uow`` takes a copy."""
        cache = self.repository.cache
        if cache is None or not self.repository.fastforward:
            return
        for aggregate_id, aggregate in aggregates.items():
            cache.put(aggregate_id, aggregate)
        if uow is not None:
            uow.loaded.update(aggregates)
            uow.shared.update(aggregates)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in list(self.after_commit):
            listener()

    def register_transcodings(self, transcoder: Transcoder) -> None:
        """The library's default transcodings and the clinical dates'."""
        register_transcodings(transcoder)

    def record(self, *aggregates: Aggregate, uow: UnitOfWork | None = None) -> None:
        """Save the aggregates' new events in one commit (a lost race: ConcurrencyConflict),
        counted for /metrics and logged. Used by every command, and by the reminder tick and
        the webhook subscriptions for their own aggregates."""
        events = [type(e).__name__ for a in aggregates for e in a.pending_events]
        with translate_conflicts():
            recordings = self.save(*aggregates, uow=uow)
        with self._appended_lock:
            self.events_appended += len(recordings)
        log.info(
            "events recorded",
            events=events,
            aggregate_ids=[str(a.id) for a in aggregates],
            position=recordings[-1].notification.id if recordings else None,
        )

    def load(
        self, cls: type[A], ident: UUID, uow: OptionalWork = None, *, version: int | None = None
    ) -> A:
        """The aggregate for a command to change (NotFound when absent or of another type);
        within ``uow`` loaded once, and refused (VersionMismatch) when not at the version the
        client expects."""
        aggregate = self._get(cls, ident, uow, version=version, share=False)
        if version is None and uow is not None and ident in uow.expected:
            # Checked once, by the command's own load; later reads in the request are free.
            expected = uow.expected.pop(ident)
            if aggregate.version != expected:
                kind = cls.__name__.lower()
                raise VersionMismatch(
                    f"{kind} {ident} changed: it is at version {aggregate.version}, not {expected}",
                    current=aggregate.version,
                )
        return aggregate

    def read(
        self, cls: type[A], ident: UUID, uow: OptionalWork = None, *, version: int | None = None
    ) -> A:
        """The aggregate for a query, which must not change it: the cached one itself where
        there is one (no copy), within ``uow`` what its commands made of it."""
        return self._get(cls, ident, uow, version=version, share=True)

    def _get(
        self, cls: type[A], ident: UUID, uow: OptionalWork, *, version: int | None, share: bool
    ) -> A:
        kind = cls.__name__.lower()
        work = uow if version is None else None  # a past version is never the request's
        if work is not None and ident in work.loaded:
            aggregate = work.loaded[ident]
            if not share and ident in work.shared:
                # The cache's (read by a query, or saved): a command changes a copy of it.
                aggregate = work.loaded[ident] = clone_aggregate(aggregate)
                work.shared.discard(ident)
        else:
            try:
                aggregate = self.repository.get(
                    ident, version=version, projector_func=_replay, share=share
                )
            except AggregateNotFoundError:
                raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident)) from None
            if work is not None:
                work.loaded[ident] = aggregate
                if share:
                    work.shared.add(ident)
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident))
        return aggregate

    def today_at_site(self, patient: Patient) -> dt.date:
        """The patient's site's calendar date now: no clinical date it records is later."""
        return local_date(self.clock(), patient.site_time_zone)


def plain(recommendation: DoseRecommendation | None) -> dict[str, Any] | None:
    """A recommendation as the API and the CLI show it (every field, as stored)."""
    return None if recommendation is None else recommendation.as_record()


def _replay(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Apply stored events in order (the library's projector, without its per-event
    runtime protocol check, which costs more than the mutation itself on Python 3.11)."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


@contextmanager
def translate_conflicts() -> Iterator[None]:
    """Turn the library's IntegrityError (a lost race) into the domain's ConcurrencyConflict."""
    try:
        yield
    except IntegrityError as exc:
        raise ConcurrencyConflict(
            "another change was recorded first; reload and try again"
        ) from exc
