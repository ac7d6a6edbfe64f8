"""Queries: trials and patients as plain data, now, at a version, or as recorded at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from adapters.application.ledger import Ledger
from adapters.application.unit_of_work import UnitOfWork
from domain.errors import NotFound
from domain.patient import Patient
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import render_cohort_table, trial_summary

A = TypeVar("A", bound=Aggregate)


class Queries(Ledger):
    """Read-only answers; none changes the store."""

    def patient(
        self, patient_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """A patient's current (or past, by version) state as plain data."""
        return patient_summary(self.read(Patient, patient_id, uow, version=version))

    def patient_scope(self, patient_id: UUID, *, uow: UnitOfWork | None = None) -> dict[str, Any]:
        """The patient's site and version: what a route checks before a command (site scoping,
        If-Match), without building its whole state."""
        patient = self.read(Patient, patient_id, uow)
        return {"site_id": patient.site_id, "version": patient.version}

    def trial(
        self, trial_id: UUID, *, version: int | None = None, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """A trial's current (or past, by version) state as plain data."""
        return trial_summary(self.read(Trial, trial_id, uow, version=version))

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
            return self.read(cls, ident)
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

    def cohort_table(self, trial_id: UUID) -> str:
        """The trial's cohort table as fixed-width text, for a terminal."""
        return render_cohort_table(self.read(Trial, trial_id))
