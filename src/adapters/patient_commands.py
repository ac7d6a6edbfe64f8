"""What each patient command's request body asks of the ledger, and what its answer adds to the
patient's state. The HTTP routes and the CLI both call these, so that the same body reaches the
same service call and the same answer comes back, whichever client sent it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters.http.schemas import (
    AdverseEventBody,
    ClinicalDate,
    DltOutcome,
    DoseAction,
    EyeExam,
    GradeChange,
    Measurement,
    SkinAssessmentBody,
    SkinExam,
)
from adapters.services import DoseLedger
from domain.actors import Actor
from domain.ae_report import AdverseEventReport, SkinAssessment

Extra = dict[str, Any]


def answer(ledger: DoseLedger, patient_id: UUID, extra: Extra) -> dict[str, Any]:
    """A patient command's answer: the patient's state, plus what the command returned."""
    return {**ledger.patient(patient_id), **extra}


def _measurement(measurement: Measurement | None) -> dict[str, Any] | None:
    # The grading rules read a plain mapping of the values given.
    return None if measurement is None else measurement.model_dump(exclude_none=True)


def record_eye_exam(ledger: DoseLedger, patient_id: UUID, body: EyeExam, actor: Actor) -> Extra:
    """An ophthalmology exam (baseline, follow-up or referral)."""
    ledger.record_eye_exam(
        patient_id,
        body.clinical_date,
        body.purpose,
        body.bcva_right,
        body.bcva_left,
        actor,
        slit_lamp_findings=body.slit_lamp_findings,
    )
    return {}


def record_skin_exam(ledger: DoseLedger, patient_id: UUID, body: SkinExam, actor: Actor) -> Extra:
    """The baseline skin examination."""
    ledger.record_baseline_skin_exam(patient_id, body.clinical_date, body.findings, actor)
    return {}


def start_dosing(ledger: DoseLedger, patient_id: UUID, body: ClinicalDate, actor: Actor) -> Extra:
    """The first dose."""
    ledger.start_dosing(patient_id, body.clinical_date, actor)
    return {}


def record_dose(ledger: DoseLedger, patient_id: UUID, body: ClinicalDate, actor: Actor) -> Extra:
    """A dose given (refused while withheld or discontinued)."""
    ledger.administer_dose(patient_id, body.clinical_date, actor)
    return {}


def record_adverse_event(
    ledger: DoseLedger, patient_id: UUID, body: AdverseEventBody, actor: Actor
) -> Extra:
    """An AE; the answer adds ``adverse_event`` (its id, grade, recommendation, DLT verdict)."""
    report = AdverseEventReport(
        **body.model_dump(exclude={"measurement"}), measurement=_measurement(body.measurement)
    )
    return {"adverse_event": ledger.record_adverse_event(patient_id, report, actor)}


def change_grade(
    ledger: DoseLedger, patient_id: UUID, body: GradeChange, actor: Actor, *, ae_id: UUID
) -> Extra:
    """An AE's new grade (0 = resolved); the answer adds the new ``recommendation`` or null."""
    recommendation = ledger.change_ae_grade(
        patient_id,
        ae_id,
        body.grade,
        body.clinical_date,
        actor,
        reason=body.reason,
        measurement=_measurement(body.measurement),
        bcva=body.bcva,
        intolerable=body.intolerable,
    )
    return {"recommendation": recommendation}


def record_skin_assessment(
    ledger: DoseLedger, patient_id: UUID, body: SkinAssessmentBody, actor: Actor
) -> Extra:
    """A visit's skin assessment; the answer adds ``skin_assessment`` (grade, recommendation)."""
    result = ledger.record_skin_assessment(patient_id, SkinAssessment(**body.model_dump()), actor)
    return {"skin_assessment": result}


def record_dose_action(
    ledger: DoseLedger, patient_id: UUID, body: DoseAction, actor: Actor
) -> Extra:
    """Hold, reduce, resume or discontinue."""
    ledger.record_dose_action(
        patient_id,
        body.action,
        body.clinical_date,
        actor,
        ae_id=body.ae_id,
        reason=body.reason,
        at=body.at,
    )
    return {}


def record_dlt_outcome(
    ledger: DoseLedger, patient_id: UUID, body: DltOutcome, actor: Actor
) -> Extra:
    """The DLT-window outcome."""
    ledger.record_dlt_window_outcome(
        patient_id,
        body.outcome,
        body.clinical_date,
        actor,
        description=body.description,
        reason=body.reason,
        doses_taken_fraction=body.doses_taken_fraction,
    )
    return {}
