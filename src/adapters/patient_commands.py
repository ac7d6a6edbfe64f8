"""What each patient command's request body asks of the ledger, and what its answer adds to the
patient's state. The HTTP routes and the CLI both call these, so that the same body reaches the
same service call and the same answer comes back, whichever client sent it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

from adapters.application import DoseLedger, UnitOfWork
from adapters.http.schemas import (
    AdverseEventBody,
    ClinicalDate,
    Correction,
    DltOutcome,
    DoseAction,
    DoseGiven,
    EnteredInError,
    EyeExam,
    GradeChange,
    Measurement,
    MissedDose,
    SkinAssessmentBody,
    SkinExam,
)
from domain.actors import Actor
from domain.ae_report import AdverseEventReport, SkinAssessment
from domain.errors import InvalidInput

Extra = dict[str, Any]
# What each command below is, to the HTTP route and the CLI handler that call it.
PatientCommand = Callable[..., Extra]


def answer(
    ledger: DoseLedger, patient_id: UUID, extra: Extra, *, uow: UnitOfWork | None = None
) -> dict[str, Any]:
    """A patient command's answer: the patient's state, plus what the command returned."""
    return {**ledger.patient(patient_id, uow=uow), **extra}


def _measurement(measurement: Measurement | None) -> dict[str, Any] | None:
    # The grading rules read a plain mapping of the values given.
    return None if measurement is None else measurement.model_dump(exclude_none=True)


def record_eye_exam(
    ledger: DoseLedger,
    patient_id: UUID,
    body: EyeExam,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """An ophthalmology exam (baseline, follow-up or referral)."""
    ledger.record_eye_exam(
        patient_id,
        body.clinical_date,
        body.purpose,
        body.bcva_right,
        body.bcva_left,
        actor,
        slit_lamp_findings=body.slit_lamp_findings,
        uow=uow,
    )
    return {}


def record_skin_exam(
    ledger: DoseLedger,
    patient_id: UUID,
    body: SkinExam,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """The baseline skin examination."""
    ledger.record_baseline_skin_exam(patient_id, body.clinical_date, body.findings, actor, uow=uow)
    return {}


def start_dosing(
    ledger: DoseLedger,
    patient_id: UUID,
    body: ClinicalDate,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """The first dose."""
    ledger.start_dosing(patient_id, body.clinical_date, actor, uow=uow)
    return {}


def record_dose(
    ledger: DoseLedger,
    patient_id: UUID,
    body: DoseGiven,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """A dose given; the answer adds ``deviation`` (true when recorded as a deviation)."""
    deviation = ledger.administer_dose(
        patient_id, body.clinical_date, actor, deviation_reason=body.deviation_reason, uow=uow
    )
    return {"deviation": deviation}


def record_missed_dose(
    ledger: DoseLedger,
    patient_id: UUID,
    body: MissedDose,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """A planned dose not taken."""
    ledger.record_missed_dose(patient_id, body.clinical_date, actor, reason=body.reason, uow=uow)
    return {}


def correct(
    ledger: DoseLedger,
    patient_id: UUID,
    body: Correction,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """A recorded AE or dose corrected; the answer adds the re-evaluated ``recommendation``."""
    others = _AE_FIELDS if body.fact == "dose" else ("clinical_date",)
    given = [name for name in others if getattr(body, name) is not None]
    if given:
        raise InvalidInput(
            f"a correction of a {body.fact.replace('_', ' ')} has no {given[0]}", field=given[0]
        )
    if body.fact == "dose":
        if body.clinical_date is None:
            raise InvalidInput("a dose's correction gives its clinical_date", field="clinical_date")
        old = _date_ref(body.ref)
        ledger.correct_dose_date(
            patient_id, old, body.clinical_date, actor, reason=body.reason, uow=uow
        )
        return {"recommendation": None}
    result = ledger.correct_adverse_event(
        patient_id,
        _uuid_ref(body.ref),
        actor,
        reason=body.reason,
        grade=body.grade,
        onset=body.onset,
        attribution=body.attribution,
        serious=body.serious,
        uow=uow,
    )
    return {"recommendation": result["recommendation"]}


def mark_in_error(
    ledger: DoseLedger,
    patient_id: UUID,
    body: EnteredInError,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """A recorded fact marked entered in error; the answer adds any new ``recommendation``."""
    result = ledger.mark_in_error(
        patient_id, body.fact, body.ref, actor, reason=body.reason, uow=uow
    )
    return {"recommendation": result["recommendation"]}


_AE_FIELDS = ("grade", "onset", "attribution", "serious")


def _uuid_ref(ref: str) -> UUID:
    try:
        return UUID(ref)
    except ValueError:
        raise InvalidInput(
            f"ref '{ref}' is not an adverse event id (a UUID)", field="ref"
        ) from None


def _date_ref(ref: str) -> dt.date:
    try:
        return dt.date.fromisoformat(ref)
    except ValueError:
        raise InvalidInput(f"ref '{ref}' is not a dose's date (YYYY-MM-DD)", field="ref") from None


def record_adverse_event(
    ledger: DoseLedger,
    patient_id: UUID,
    body: AdverseEventBody,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """An AE; the answer adds ``adverse_event`` (its id, grade, recommendation, DLT verdict)."""
    report = AdverseEventReport(
        **body.model_dump(exclude={"measurement"}), measurement=_measurement(body.measurement)
    )
    return {"adverse_event": ledger.record_adverse_event(patient_id, report, actor, uow=uow)}


def change_grade(
    ledger: DoseLedger,
    patient_id: UUID,
    body: GradeChange,
    actor: Actor,
    *,
    ae_id: UUID,
    uow: UnitOfWork | None = None,
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
        uow=uow,
    )
    return {"recommendation": recommendation}


def record_skin_assessment(
    ledger: DoseLedger,
    patient_id: UUID,
    body: SkinAssessmentBody,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
) -> Extra:
    """A visit's skin assessment; the answer adds ``skin_assessment`` (grade, recommendation)."""
    result = ledger.record_skin_assessment(
        patient_id, SkinAssessment(**body.model_dump()), actor, uow=uow
    )
    return {"skin_assessment": result}


def record_dose_action(
    ledger: DoseLedger,
    patient_id: UUID,
    body: DoseAction,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
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
        uow=uow,
    )
    return {}


def record_dlt_outcome(
    ledger: DoseLedger,
    patient_id: UUID,
    body: DltOutcome,
    actor: Actor,
    *,
    uow: UnitOfWork | None = None,
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
        uow=uow,
    )
    return {}
