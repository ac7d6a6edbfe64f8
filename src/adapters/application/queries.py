"""Queries: trials and patients as plain data, now, at a version, or as recorded at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from adapters.application.ledger import Ledger
from adapters.application.unit_of_work import UnitOfWork
from domain.errors import NotFound
from domain.patient import Patient
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary

A = TypeVar("A", bound=Aggregate)
PAGE = 500


class Queries(Ledger):
    """Read-only answers; none changes the store."""

    def patient(
        self, patient_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """A patient's current (or past, by version) state as plain data."""
        return patient_summary(self.load(Patient, patient_id, uow, version=version))

    def patient_scope(self, patient_id: UUID, *, uow: UnitOfWork | None = None) -> dict[str, Any]:
        """The patient's site and version: what a route checks before a command (site scoping,
        If-Match), without building its whole state."""
        patient = self.load(Patient, patient_id, uow)
        return {"site_id": patient.site_id, "version": patient.version}

    def trial(
        self, trial_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """A trial's current (or past, by version) state as plain data."""
        return trial_summary(self.load(Trial, trial_id, uow, version=version))

    def replay(self, trial_id: UUID, as_of: dt.datetime | None = None) -> dict[str, Any]:
        """The trial and its patients as recorded at ``as_of`` (UTC), rebuilt from events."""
        trial = self._as_of(Trial, trial_id, as_of)
        if trial is None:
            raise NotFound(
                f"trial {trial_id} was not yet registered at {as_of}",
                kind="trial",
                ident=str(trial_id),
            )
        patients = []
        for patient_id in trial.patient_cohort:
            patient = self._as_of(Patient, patient_id, as_of)
            if patient is not None:
                patients.append(patient_summary(patient))
        return {
            "as_of": None if as_of is None else as_of.isoformat(),
            "trial": trial_summary(trial),
            "patients": patients,
        }

    def _as_of(self, cls: type[A], ident: UUID, as_of: dt.datetime | None) -> A | None:
        """Replay an aggregate's events recorded at or before ``as_of``."""
        if as_of is None:
            return self.load(cls, ident)
        aggregate = None
        for domain_event in self.events.get(ident):
            if domain_event.timestamp > as_of:
                break
            aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is None and not self.recorder.select_events(ident, limit=1):
            raise NotFound(
                f"no {cls.__name__.lower()} {ident}", kind=cls.__name__.lower(), ident=str(ident)
            )
        if aggregate is not None and not isinstance(aggregate, cls):
            raise NotFound(
                f"no {cls.__name__.lower()} {ident}", kind=cls.__name__.lower(), ident=str(ident)
            )
        return aggregate

    def trial_aggregate(
        self, trial_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> Trial:
        """The Trial aggregate itself, for read-only use by projections and reports."""
        return self.load(Trial, trial_id, uow, version=version)

    def patient_aggregate(
        self, patient_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> Patient:
        """The Patient aggregate itself, for read-only use by projections and reports."""
        return self.load(Patient, patient_id, uow, version=version)

    def trial_ids(self) -> Iterator[UUID]:
        """Ids of every trial in the store, in registration order."""
        topics = [Trial.Registered.TOPIC]
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start, PAGE, topics=topics, inclusive_of_start=start is None
            )
            yield from (n.originator_id for n in page)
            if len(page) < PAGE:
                return
            start = page[-1].id

    def trials(self) -> list[dict[str, Any]]:
        """Every trial: id, protocol, status, current level, MTD."""
        return [self._trial_row(trial_id) for trial_id in self.trial_ids()]

    def trial_page(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` trials registered after store position ``after``, in registration
        order, and the position to pass as ``after`` for the next page (None: no more)."""
        page = self.recorder.select_notifications(
            after, limit + 1, topics=[Trial.Registered.TOPIC], inclusive_of_start=False
        )
        rows = [self._trial_row(n.originator_id) for n in page[:limit]]
        return rows, page[limit - 1].id if len(page) > limit else None

    def _trial_row(self, trial_id: UUID) -> dict[str, Any]:
        trial = self.load(Trial, trial_id)
        return {
            "id": str(trial.id),
            "name": trial.name,
            "protocol": trial.protocol.id,
            "status": trial.status,
            "current_level": trial.current_level,
            "mtd": trial.mtd,
        }
