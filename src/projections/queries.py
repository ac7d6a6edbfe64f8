"""What clients read from the read models: each query one read snapshot of plain SQL reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from projections.models import aggregate_index as index_queries
from projections.models import audit_trail as audit_queries
from projections.models import cohort_queries, reminder_queries
from projections.models import patient_timeline as timeline_queries
from projections.models import safety_table as safety_queries
from projections.models import trial_overview as overview_queries
from projections.store import Store, Transaction


class ReadModelQueries:
    """The queries of the read models of one store (the tables created first when missing)."""

    def __init__(self, store: Store, ensure_schema: Callable[[], None]) -> None:
        self.store = store
        self._ensure_schema = ensure_schema

    @contextmanager
    def _reading(self) -> Iterator[Transaction]:
        self._ensure_schema()
        with self.store.snapshot() as tx:
            yield tx

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

    def trial_list(
        self, after: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the trial list (id, name, protocol, status, current level, MTD) in
        registration order, and the position after which the next page starts (None: no more)."""
        with self._reading() as tx:
            return overview_queries.trial_list_page(tx, self.store, after, limit)

    def aggregate_ids(self, kind: str, *, owner: str | None = None) -> list[str]:
        """The ids of the aggregates of ``kind`` (of ``owner``), oldest first (the aggregate
        index, where the process has one: ``adapters.read_models.service_read_models``)."""
        with self._reading() as tx:
            return index_queries.aggregate_ids(tx, self.store, kind, owner=owner)

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

    def open_reminders(self, at: dt.datetime) -> list[reminder_queries.Row]:
        """The reminder index's rows of every open reminder, as of ``at``."""
        with self._reading() as tx:
            return reminder_queries.open_rows(tx, self.store, at)

    def due_reminders(self, at: dt.datetime) -> list[reminder_queries.Row]:
        """The reminder index's rows of what a tick at ``at`` would issue."""
        with self._reading() as tx:
            return reminder_queries.due_rows(tx, self.store, at)
