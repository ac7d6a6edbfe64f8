"""The library's Application with doseledger's two caches in front of the event store.

- Snapshots (``snapshots``): one snapshot class for every aggregate, set on the application
  (the library would take each aggregate class's own ``Snapshot``, its plain one by default),
  and a store that uses only snapshots of the current layout.
- The aggregate cache holds aggregates that nothing changes once they are in it: a fast-forward
  applies the newer events to a copy, which replaces the cached one (the library applies them
  to the cached object in place), and the ledger puts the aggregates it has just saved
  (``Ledger.save``), so the next command on them reads no event. Commands are handed copies,
  made by ``state_copy`` instead of ``copy.deepcopy``; a query may read the cached object
  itself (``share=True``), since no one changes it while it reads.

Snapshots are taken after the events are committed, so a snapshot that fails must not turn a
recorded command into an error for its caller: it is logged as an error, with the aggregate
and version, and loads replay the events instead. Where the environment's
``DOSELEDGER_SNAPSHOT_FAILURES`` is ``raise`` (the test suite), it is raised, so that a broken
snapshot fails the test that took it instead of hiding behind a replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import (
    Application,
    ProcessingEvent,
    ProjectorFunction,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import EventStore
from eventsourcing.utils import strtobool

from adapters.persistence.environment import SnapshotFailures, snapshot_failures
from adapters.persistence.snapshots import AggregateSnapshot, SnapshotStore
from adapters.persistence.state_copy import clone_aggregate

log = structlog.get_logger("doseledger.snapshots")


class SnapshotFailed(Exception):
    """A snapshot could not be taken (its cause is chained); the events are recorded."""

    def __init__(self, aggregate_id: UUID, version: int | None) -> None:
        super().__init__(f"the snapshot of {aggregate_id} at version {version} failed")
        self.aggregate_id = aggregate_id
        self.version = version


class CopyingRepository(Repository[UUID]):
    """The library's repository, whose cached aggregates are never changed (module docstring)."""

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
        share: bool = False,
    ) -> Any:
        """The aggregate, as the library's repository loads it; from the cache, a copy unless
        ``share`` (the caller only reads it)."""
        if not self.cache or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        forwarded: list[Any] = []
        aggregate = super().get(
            aggregate_id,
            projector_func=_copy_on_write(projector_func, forwarded),
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=False,
        )
        if forwarded:  # a copy with the newer events: it replaces the cached aggregate
            self.cache.put(aggregate_id, aggregate)
        if share or not (deepcopy_from_cache and self.deepcopy_from_cache):
            return aggregate
        return clone_aggregate(aggregate)


def _copy_on_write(
    projector: ProjectorFunction[Any, Any], forwarded: list[Any]
) -> ProjectorFunction[Any, Any]:
    """``projector``, applying events to a copy of a cached aggregate (never to it), and noting
    that copy in ``forwarded``; an aggregate built from nothing (a cache miss) is its own."""

    def project(aggregate: Any, events: Iterable[Any]) -> Any:
        if aggregate is None:
            return projector(None, events)
        pending = iter(events)
        first = next(pending, None)
        if first is None:  # nothing newer: the cached aggregate itself
            return aggregate
        copy = projector(clone_aggregate(aggregate), chain((first,), pending))
        forwarded.append(copy)
        return copy

    return project


class CachingApplication(Application[UUID]):
    """The library's Application with our snapshots and aggregate cache (module docstring)."""

    snapshot_class: type[AggregateSnapshot] = AggregateSnapshot

    @property
    def snapshot_failures(self) -> SnapshotFailures:
        """What a failed snapshot does here: "log" (the default) or "raise"."""
        return snapshot_failures(self.env)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """The snapshot store that hands out only snapshots of the current layout."""
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return SnapshotStore(self.mapper, recorder, failures=self.snapshot_failures)

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, configured as the library does, copying with ours."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return CopyingRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
    ) -> None:
        """Snapshot the aggregate at a version (default its latest) as ``AggregateSnapshot``."""
        if self.snapshots is None:
            super().take_snapshot(aggregate_id, version, projector_func)  # the library's refusal
            return
        try:
            aggregate = self.repository.get(
                aggregate_id, version=version, projector_func=projector_func
            )
            self.snapshots.put([self.snapshot_class.take(aggregate)])
        except Exception as exc:
            raise SnapshotFailed(aggregate_id, version) from exc

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # The library's: after a save, the aggregates whose new versions fall on an interval.
        try:
            super()._take_snapshots(processing_event)
        except SnapshotFailed as failed:
            log.error(
                "snapshot failed; loads replay the events instead",
                aggregate_id=str(failed.aggregate_id),
                version=failed.version,
                exc_info=failed.__cause__,
            )
            if self.snapshot_failures == "raise":
                raise
