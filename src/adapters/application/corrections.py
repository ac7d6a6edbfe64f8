"""Corrections: a recorded AE or dose corrected, or a fact marked entered in error.

The patient re-derives what followed from the corrected facts; a changed DLT outcome reaches
the cohort through ``domain.policies.apply_outcome_change`` (a decided cohort is flagged).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from adapters.application.ledger import Ledger, plain
from adapters.application.unit_of_work import UnitOfWork
from domain.actors import Actor
from domain.patient import Patient
from domain.policies import apply_outcome_change
from domain.trial import Trial
from projections.patient_state import patient_summary


class CorrectionCommands(Ledger):
    """Corrections of recorded facts, with everything derived from them following."""

    def correct_adverse_event(
        self,
        patient_id: UUID,
        ae_id: UUID,
        actor: Actor,
        *,
        reason: str,
        grade: int | None = None,
        onset: dt.date | None = None,
        attribution: str | None = None,
        serious: bool | None = None,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Correct a recorded AE; recommendation, DLT outcome and cohort follow the new facts."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        ae = patient.adverse_event(ae_id)
        correction = patient.correct_adverse_event(
            ae_id,
            actor,
            today=self.today_at_site(patient),
            protocol=trial.protocol,
            term=self.catalogue.lookup(ae.term),
            reason=reason,
            grade=grade,
            onset=onset,
            attribution=attribution,
            serious=serious,
        )
        apply_outcome_change(trial, patient, correction.outcome, actor, reason.strip())
        self.record(trial, patient, uow=uow)
        return {
            "recommendation": plain(correction.recommendation),
            "patient": patient_summary(patient),
        }

    def mark_in_error(
        self,
        patient_id: UUID,
        fact: str,
        ref: str,
        actor: Actor,
        *,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Mark a recorded AE, dose or missed dose entered in error; derived state follows."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        correction = patient.mark_in_error(fact, ref, actor, reason=reason, protocol=trial.protocol)
        apply_outcome_change(trial, patient, correction.outcome, actor, reason.strip())
        self.record(trial, patient, uow=uow)
        return {
            "recommendation": plain(correction.recommendation),
            "patient": patient_summary(patient),
        }

    def correct_dose_date(
        self,
        patient_id: UUID,
        old: dt.date,
        new: dt.date,
        actor: Actor,
        *,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Correct the date of a recorded dose."""
        patient = self.load(Patient, patient_id, uow)
        patient.correct_dose_date(old, new, actor, today=self.today_at_site(patient), reason=reason)
        self.record(patient, uow=uow)
        return patient_summary(patient)
