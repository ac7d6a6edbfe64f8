"""Trial commands: register, enrol, the SRC's decisions and its adjudication of DLT candidates.

Each loads what it changes, calls the aggregates' commands (a cross-aggregate rule through
``domain.policies``), and saves every aggregate it changed in one ``record`` (atomic).
"""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID, uuid4

from adapters.application.ledger import Ledger
from adapters.application.unit_of_work import UnitOfWork
from domain.actors import Actor
from domain.errors import InvalidInput, NotFound
from domain.patient import Patient
from domain.policies import adjudicate_dlt_candidate
from domain.protocol import Protocol
from domain.site_time import check_enrolment_date, local_date
from domain.trial import Trial

SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class TrialCommands(Ledger):
    """The commands on a trial (with a new or adjudicated patient, saved together)."""

    def register_trial(
        self, protocol: Protocol, actor: Actor, *, name: str = "", uow: UnitOfWork | None = None
    ) -> UUID:
        """Register a trial from a protocol; its first cohort opens at the starting level."""
        trial = Trial.register(uuid4(), protocol, name.strip() or protocol.title, actor)
        self.record(trial, uow=uow)
        return trial.id

    def enrol_patient(
        self,
        trial_id: UUID,
        site_id: str,
        actor: Actor,
        *,
        subject_id: str | None = None,
        site_time_zone: str | None = None,
        enrolment_date: dt.date | None = None,
        uow: UnitOfWork | None = None,
    ) -> UUID:
        """Enrol a patient into the trial's open cohort; trial and patient are saved together.

        ``site_time_zone`` is recorded at the site's first enrolment (else the protocol's
        default); ``enrolment_date`` defaults to the site's today and is never after it.
        """
        if not SITE_ID.match(site_id):
            raise InvalidInput(
                f"site id '{site_id}' must be 1-32 letters, digits, '-' or '_'", field="site_id"
            )
        trial = self.load(Trial, trial_id, uow)
        time_zone = trial.check_site_time_zone(site_id, site_time_zone)
        today = local_date(self.clock(), time_zone)
        if enrolment_date is None:
            enrolment_date = today
        check_enrolment_date(enrolment_date, today, time_zone)
        subject_id = subject_id or f"{site_id}-{len(trial.subjects) + 1:03d}"
        if not SUBJECT_ID.match(subject_id):
            raise InvalidInput(
                f"subject id '{subject_id}' must be 1-40 letters, digits, '-' or '_' "
                "(pseudonymous; never a name)",
                field="subject_id",
            )
        patient_id = uuid4()
        level = trial.enrol(patient_id, subject_id, site_id, actor, site_time_zone=site_time_zone)
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
            enrolment_date=enrolment_date,
            site_time_zone=time_zone,
        )
        self.record(trial, patient, uow=uow)
        return patient_id

    def site_today(
        self, trial: UUID | Trial, site_id: str, *, uow: UnitOfWork | None = None
    ) -> dt.date:
        """The site's calendar date now (``self.clock``), in its recorded or default zone."""
        if not isinstance(trial, Trial):
            trial = self.load(Trial, trial, uow)
        return local_date(self.clock(), trial.site_time_zone(site_id))

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
        packet_sha256: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record the safety review committee's signed escalation decision (citing the SRC
        packet it was made on, when ``packet_sha256`` is given)."""
        trial = self.load(Trial, trial_id, uow)
        trial.sign_decision(
            cohort,
            decision,
            signer,
            meaning=meaning,
            mtd_level=mtd_level,
            reason=reason,
            packet_sha256=packet_sha256,
        )
        self.record(trial, uow=uow)

    def review_decision(
        self,
        trial_id: UUID,
        cohort: int,
        outcome: str,
        signer: Actor,
        *,
        reason: str,
        meaning: str = "review",
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record the SRC's signed re-review of a decision a correction flagged."""
        trial = self.load(Trial, trial_id, uow)
        trial.review_decision(cohort, outcome, signer, reason=reason, meaning=meaning)
        self.record(trial, uow=uow)

    def adjudicate_dlt(
        self,
        trial_id: UUID,
        patient_id: UUID,
        ae_id: UUID,
        confirmed: bool,
        signer: Actor,
        *,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> None:
        """An SRC member confirms or rejects a DLT candidate; trial and patient change together."""
        trial = self.load(Trial, trial_id, uow)
        patient = self.load(Patient, patient_id, uow)
        if patient.trial_id != trial_id:
            raise NotFound(
                f"no patient {patient_id} in trial {trial_id}",
                kind="patient",
                ident=str(patient_id),
            )
        adjudicate_dlt_candidate(trial, patient, ae_id, confirmed, signer, reason=reason)
        self.record(trial, patient, uow=uow)
