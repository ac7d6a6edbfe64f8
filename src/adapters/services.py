"""The application service layer: load aggregates, call their commands, save atomically."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder

from adapters.transcodings import DateAsISO
from domain.actors import Actor
from domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from domain.patient import Patient
from domain.protocol import Protocol
from domain.trial import Trial
from projections.trial_state import trial_summary

A = TypeVar("A", bound=Aggregate)
SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
PAGE = 500
log = structlog.get_logger("doseledger.services")


class DoseLedger(Application[UUID]):
    """doseledger's application: every client (CLI, HTTP, demo, tests) goes through it."""

    name = "doseledger"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=env)

    def register_transcodings(self, transcoder: Transcoder) -> None:
        """Add the clinical-date transcoding to the library's defaults."""
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ----------------------------------------------------------------- commands

    def register_trial(self, protocol: Protocol, actor: Actor, *, name: str = "") -> UUID:
        """Register a trial from a protocol; its first cohort opens at the starting level."""
        trial = Trial(
            id=uuid4(),
            protocol=protocol.model_dump(mode="json"),
            name=name.strip() or protocol.title,
            actor=actor.as_record(),
        )
        self._save(trial)
        return trial.id

    def enrol_patient(
        self, trial_id: UUID, site_id: str, actor: Actor, *, subject_id: str | None = None
    ) -> UUID:
        """Enrol a patient into the trial's open cohort; trial and patient are saved together."""
        if not SITE_ID.match(site_id):
            raise InvalidInput(
                f"site id '{site_id}' must be 1-32 letters, digits, '-' or '_'", field="site_id"
            )
        trial = self._get(Trial, trial_id)
        subject_id = subject_id or f"{site_id}-{len(trial.subjects) + 1:03d}"
        if not SUBJECT_ID.match(subject_id):
            raise InvalidInput(
                f"subject id '{subject_id}' must be 1-40 letters, digits, '-' or '_' "
                "(pseudonymous; never a name)",
                field="subject_id",
            )
        patient_id = uuid4()
        level = trial.enrol(patient_id, subject_id, site_id, actor)
        patient = Patient(
            id=patient_id,
            trial_id=trial_id,
            subject_id=subject_id,
            site_id=site_id,
            cohort=trial.open_cohort.number,
            level=level,
            doses=[d.model_dump(mode="json") for d in trial.protocol.dose_level(level).doses],
            dlt_window_days=trial.protocol.dlt_window_days,
            actor=actor.as_record(),
        )
        self._save(trial, patient)
        return patient_id

    def record_baseline_eye_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record a patient's baseline eye exam (BCVA per eye, slit lamp)."""
        patient = self._get(Patient, patient_id)
        patient.record_baseline_eye_exam(
            clinical_date, bcva_right, bcva_left, actor, slit_lamp_findings=slit_lamp_findings
        )
        self._save(patient)

    def start_dosing(self, patient_id: UUID, clinical_date: dt.date, actor: Actor) -> None:
        """Record a patient's first dose."""
        patient = self._get(Patient, patient_id)
        patient.start_dosing(clinical_date, actor)
        self._save(patient)

    def record_dlt_window_outcome(
        self,
        patient_id: UUID,
        outcome: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str = "",
        reason: str = "",
        doses_taken_fraction: float | None = None,
    ) -> None:
        """Record a patient's DLT-window outcome on the patient and its cohort, atomically."""
        patient = self._get(Patient, patient_id)
        trial = self._get(Trial, patient.trial_id)
        patient.close_dlt_window(
            outcome,
            clinical_date,
            actor,
            min_dose_fraction=trial.protocol.evaluability_min_dose_fraction,
            description=description,
            reason=reason,
            doses_taken_fraction=doses_taken_fraction,
        )
        trial.record_outcome(
            patient_id,
            patient.dlt_outcome or "not_evaluable",
            clinical_date,
            actor,
            description=description,
            reason=reason,
        )
        self._save(trial, patient)

    def sign_decision(
        self,
        trial_id: UUID,
        cohort: int,
        decision: str,
        signer: Actor,
        *,
        meaning: str = "approval",
        mtd_level: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the safety review committee's signed escalation decision."""
        trial = self._get(Trial, trial_id)
        trial.sign_decision(
            cohort, decision, signer, meaning=meaning, mtd_level=mtd_level, reason=reason
        )
        self._save(trial)

    # ----------------------------------------------------------------- queries

    def trial(self, trial_id: UUID, *, version: int | None = None) -> dict[str, Any]:
        """A trial's current (or past, by version) state as plain data."""
        return trial_summary(self._get(Trial, trial_id, version=version))

    def trial_aggregate(self, trial_id: UUID, *, version: int | None = None) -> Trial:
        """The Trial aggregate itself, for read-only use by projections and reports."""
        return self._get(Trial, trial_id, version=version)

    def patient_aggregate(self, patient_id: UUID, *, version: int | None = None) -> Patient:
        """The Patient aggregate itself, for read-only use by projections and reports."""
        return self._get(Patient, patient_id, version=version)

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
        rows = []
        for trial_id in self.trial_ids():
            trial = self._get(Trial, trial_id)
            rows.append(
                {
                    "id": str(trial.id),
                    "name": trial.name,
                    "protocol": trial.protocol.id,
                    "status": trial.status,
                    "current_level": trial.current_level,
                    "mtd": trial.mtd,
                }
            )
        return rows

    # ----------------------------------------------------------------- plumbing

    def _get(self, cls: type[A], ident: UUID, *, version: int | None = None) -> A:
        kind = cls.__name__.lower()
        try:
            aggregate = self.repository.get(ident, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident)) from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {kind} {ident}", kind=kind, ident=str(ident))
        return aggregate

    def _save(self, *aggregates: Aggregate) -> None:
        events = [type(e).__name__ for a in aggregates for e in a.pending_events]
        with translate_conflicts():
            recordings = self.save(*aggregates)
        log.info(
            "events recorded",
            events=events,
            aggregate_ids=[str(a.id) for a in aggregates],
            position=recordings[-1].notification.id if recordings else None,
        )


@contextmanager
def translate_conflicts() -> Iterator[None]:
    """Turn the library's IntegrityError (a lost race) into the domain's ConcurrencyConflict."""
    try:
        yield
    except IntegrityError as exc:
        raise ConcurrencyConflict(
            "another change was recorded first; reload and try again"
        ) from exc
