"""Patient commands: exams, dosing, adverse events, skin assessments, dose actions, the window.

A command that can change the cohort (an AE's DLT verdict, the window's outcome) loads the
patient's trial too and saves both in one ``record``; the rule that carries a patient's fact to
its cohort is ``domain.policies``'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

from adapters.application.ledger import Ledger, plain
from adapters.application.unit_of_work import UnitOfWork
from domain.actors import SYSTEM, Actor
from domain.ae_report import AdverseEventReport, SkinAssessment, graded
from domain.errors import InvalidInput
from domain.patient import Patient
from domain.policies import apply_dlt_verdict, apply_window_outcome
from domain.trial import Trial
from projections.patient_state import patient_summary


class PatientCommands(Ledger):
    """The commands on a patient (and its trial, when the cohort follows)."""

    def record_eye_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        purpose: str,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record an eye exam: ``baseline`` (before dosing), ``follow_up`` or ``referral``."""
        patient = self.load(Patient, patient_id, uow)
        patient.record_eye_exam(
            clinical_date,
            purpose,
            bcva_right,
            bcva_left,
            actor,
            today=self.today_at_site(patient),
            slit_lamp_findings=slit_lamp_findings,
        )
        self.record(patient, uow=uow)

    def record_baseline_eye_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a patient's baseline eye exam (BCVA per eye, slit lamp)."""
        self.record_eye_exam(
            patient_id,
            clinical_date,
            "baseline",
            bcva_right,
            bcva_left,
            actor,
            slit_lamp_findings=slit_lamp_findings,
        )

    def start_dosing(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        actor: Actor,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a patient's first dose."""
        patient = self.load(Patient, patient_id, uow)
        patient.start_dosing(clinical_date, actor, today=self.today_at_site(patient))
        self.record(patient, uow=uow)

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
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a patient's DLT-window outcome on the patient and its cohort, atomically."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        patient.close_dlt_window(
            outcome,
            clinical_date,
            actor,
            today=self.today_at_site(patient),
            schedule=trial.protocol.schedule,
            min_dose_fraction=trial.protocol.evaluability_min_dose_fraction,
            description=description,
            reason=reason,
            doses_taken_fraction=doses_taken_fraction,
        )
        apply_window_outcome(
            trial, patient, clinical_date, actor, description=description, reason=reason
        )
        self.record(trial, patient, uow=uow)

    def record_baseline_skin_exam(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        findings: str,
        actor: Actor,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a patient's baseline skin examination."""
        patient = self.load(Patient, patient_id, uow)
        patient.record_baseline_skin_exam(
            clinical_date, findings, actor, today=self.today_at_site(patient)
        )
        self.record(patient, uow=uow)

    def administer_dose(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        actor: Actor,
        *,
        deviation_reason: str = "",
        uow: UnitOfWork | None = None,
    ) -> bool:
        """Record a dose given; against an open requirement only as a deviation with a reason
        (returns True when it was recorded as one)."""
        patient = self.load(Patient, patient_id, uow)
        deviation = patient.administer_dose(
            clinical_date,
            actor,
            today=self.today_at_site(patient),
            deviation_reason=deviation_reason,
        )
        self.record(patient, uow=uow)
        return deviation

    def record_missed_dose(
        self,
        patient_id: UUID,
        clinical_date: dt.date,
        actor: Actor,
        *,
        reason: str = "",
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a planned dose that was not taken."""
        patient = self.load(Patient, patient_id, uow)
        patient.record_missed_dose(
            clinical_date, actor, today=self.today_at_site(patient), reason=reason
        )
        self.record(patient, uow=uow)

    def record_adverse_event(
        self,
        patient_id: UUID,
        report: AdverseEventReport,
        actor: Actor,
        *,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Record an AE; returns its id, the dose recommendation and the DLT verdict."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        term = self.catalogue.lookup(report.term)
        grade = graded(term, report.grade, report.measurement)
        ae_id = uuid4()
        recommendation, assessment = patient.record_adverse_event(
            ae_id,
            term,
            grade,
            report.onset,
            actor,
            today=self.today_at_site(patient),
            protocol=trial.protocol,
            attribution=report.attribution,
            serious=report.serious,
            ctcae_version=report.ctcae_version,
            ctcae_version_reason=report.ctcae_version_reason,
            measurement=report.measurement,
            intolerable=report.intolerable,
            eye=report.eye,
            bcva=report.bcva,
            clinically_significant=report.clinically_significant,
            with_bleeding=report.with_bleeding,
            duration_days=report.duration_days,
        )
        grade = patient.adverse_events[ae_id].grade
        apply_dlt_verdict(trial, patient, ae_id, actor)
        self.record(trial, patient, uow=uow)
        return {
            "ae_id": str(ae_id),
            "term": term.term,
            "grade": grade,
            "recommendation": recommendation.as_record(),
            "dlt": {"verdict": assessment.verdict, "criterion": assessment.criterion},
        }

    def change_ae_grade(
        self,
        patient_id: UUID,
        ae_id: UUID,
        grade: int | None,
        clinical_date: dt.date,
        actor: Actor,
        *,
        reason: str = "",
        measurement: dict[str, Any] | None = None,
        bcva: str | None = None,
        intolerable: bool = False,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any] | None:
        """Record a new grade (0 = resolved) for an AE; returns the new recommendation, if any."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        ae = patient.adverse_event(ae_id)
        term = self.catalogue.lookup(ae.term)
        if bcva is None:
            # A measured value at or below the ULN (grade 0) resolves a lab AE.
            grade = graded(term, grade, measurement, recovery=True)
        change = patient.change_ae_grade(
            ae_id,
            grade or 0,
            clinical_date,
            actor,
            today=self.today_at_site(patient),
            protocol=trial.protocol,
            term=term,
            reason=reason,
            measurement=measurement,
            bcva=bcva,
            intolerable=intolerable,
        )
        if change.dlt is not None:
            apply_dlt_verdict(trial, patient, ae_id, actor)
        self.record(trial, patient, uow=uow)
        return plain(change.recommendation)

    def record_skin_assessment(
        self,
        patient_id: UUID,
        assessment: SkinAssessment,
        actor: Actor,
        *,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Record a visit's skin assessment (grade, location, % BSA); feeds the rash rules."""
        patient = self.load(Patient, patient_id, uow)
        trial = self.load(Trial, patient.trial_id, uow)
        result = patient.record_skin_assessment(
            assessment.clinical_date,
            actor,
            today=self.today_at_site(patient),
            location=assessment.location,
            bsa_percent=assessment.bsa_percent,
            symptoms=assessment.symptoms,
            ctcae_version=assessment.ctcae_version,
            ctcae_version_reason=assessment.ctcae_version_reason,
            life_threatening=assessment.life_threatening,
            new_ae_id=uuid4(),
            protocol=trial.protocol,
            term=self.catalogue.lookup("Rash acneiform"),
            attribution=assessment.attribution,
            intolerable=assessment.intolerable,
        )
        if result.dlt is not None and result.ae_id is not None:
            apply_dlt_verdict(trial, patient, result.ae_id, actor)
        self.record(trial, patient, uow=uow)
        return {"grade": result.grade, "recommendation": plain(result.recommendation)}

    def record_dose_action(
        self,
        patient_id: UUID,
        action: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        ae_id: UUID | None = None,
        reason: str = "",
        at: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Hold, reduce, resume or discontinue; departing from the recommendation needs a reason."""
        patient = self.load(Patient, patient_id, uow)
        protocol = self.load(Trial, patient.trial_id, uow).protocol
        today = self.today_at_site(patient)
        if action == "hold":
            patient.hold_dose(clinical_date, actor, today=today, ae_id=ae_id, reason=reason)
        elif action == "reduce":
            patient.reduce_dose(
                clinical_date, actor, today=today, protocol=protocol, ae_id=ae_id, reason=reason
            )
        elif action == "resume":
            if at not in (None, "same", "reduced"):
                raise InvalidInput(f"resume at '{at}': use same or reduced", field="at")
            patient.resume_dose(
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                at=at,  # type: ignore[arg-type]
                reason=reason,
            )
        elif action == "discontinue":
            patient.discontinue(
                clinical_date, actor, today=today, protocol=protocol, ae_id=ae_id, reason=reason
            )
        else:
            raise InvalidInput(
                f"unknown dose action '{action}'; actions: hold, reduce, resume, discontinue",
                field="action",
            )
        self.record(patient, uow=uow)
        return patient_summary(patient)

    def review_hold(
        self,
        patient_id: UUID,
        as_of: dt.date,
        actor: Actor = SYSTEM,
        *,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any] | None:
        """Recommend discontinuation for each hold whose deadline passed without recovery;
        returns the first such recommendation (None when nothing is late)."""
        patient = self.load(Patient, patient_id, uow)
        protocol = self.load(Trial, patient.trial_id, uow).protocol
        recommendations = patient.review_hold(as_of, protocol, actor=actor)
        if recommendations:
            self.record(patient, uow=uow)
        return recommendations[0].as_record() if recommendations else None
