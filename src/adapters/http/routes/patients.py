"""Patients: read one, and record what happens to them (exams, dosing, AEs, dose actions)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Response

from adapters import patient_commands as commands
from adapters.http.deps import Ledger, PatientToChange, Reader, etag
from adapters.http.openapi_parts import ETAG, ok
from adapters.http.routers import api_router
from adapters.http.routes.trials import ERRORS
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
    MissedDose,
    SkinAssessmentBody,
    SkinExam,
)
from adapters.http.views import Patient
from adapters.http.write_slots import WriteSlotRoute

ANSWER = ok(Patient, 201, headers=ETAG, description="The patient's state after the command")
router = api_router(
    prefix="/patients", tags=["patients"], responses=ERRORS, route_class=WriteSlotRoute
)


@router.get("/{patient_id}", summary="One patient", responses=ok(Patient, headers=ETAG))
def get_patient(patient_id: UUID, ledger: Ledger, who: Reader, response: Response) -> Any:
    """The patient's current state (investigators: their own site only)."""
    patient = ledger.patient(patient_id)
    who.check_patient(patient_id, patient["site_id"])
    response.headers["ETag"] = etag(patient["version"])
    return patient


@router.post(
    "/{patient_id}/eye-exams", status_code=201, summary="Record an eye exam", responses=ANSWER
)
def record_eye_exam(
    body: EyeExam,
    patient: PatientToChange,
) -> Any:
    """An ophthalmology exam (BCVA per eye, slit lamp): the baseline before the first dose, or
    on treatment a cycle's follow-up or a visual-AE referral (each clears its reminder)."""
    return patient.record(commands.record_eye_exam, body)


@router.post(
    "/{patient_id}/skin-exams",
    status_code=201,
    summary="Record the baseline skin exam",
    responses=ANSWER,
)
def record_skin_exam(
    body: SkinExam,
    patient: PatientToChange,
) -> Any:
    """The baseline skin examination, before the first dose."""
    return patient.record(commands.record_skin_exam, body)


@router.post("/{patient_id}/dosing", status_code=201, summary="Start dosing", responses=ANSWER)
def start_dosing(
    body: ClinicalDate,
    patient: PatientToChange,
) -> Any:
    """The first dose (refused without the baseline eye and skin exams)."""
    return patient.record(commands.start_dosing, body)


@router.post(
    "/{patient_id}/doses", status_code=201, summary="Record a dose given", responses=ANSWER
)
def record_dose(
    body: DoseGiven,
    patient: PatientToChange,
) -> Any:
    """A day's dose. Refused inside a hold, after a discontinuation, death or withdrawal; against
    an open withhold or discontinue requirement only as a deviation with ``deviation_reason``."""
    return patient.record(commands.record_dose, body)


@router.post(
    "/{patient_id}/missed-doses", status_code=201, summary="Record a missed dose", responses=ANSWER
)
def record_missed_dose(
    body: MissedDose,
    patient: PatientToChange,
) -> Any:
    """A planned dose not taken: it lowers the share of planned doses (evaluability)."""
    return patient.record(commands.record_missed_dose, body)


@router.post(
    "/{patient_id}/corrections",
    status_code=201,
    summary="Correct a recorded fact",
    responses=ANSWER,
)
def correct(
    body: Correction,
    patient: PatientToChange,
) -> Any:
    """Correct an AE (grade, onset, attribution, seriousness) or a dose's date, with a reason;
    requirements, the DLT outcome and the cohort follow (a decided cohort is flagged)."""
    return patient.record(commands.correct, body)


@router.post(
    "/{patient_id}/entered-in-error",
    status_code=201,
    summary="Mark a fact entered in error",
    responses=ANSWER,
)
def mark_in_error(
    body: EnteredInError,
    patient: PatientToChange,
) -> Any:
    """An AE, dose or missed dose that should never have been recorded: it stops counting;
    the history keeps it, with the reason."""
    return patient.record(commands.mark_in_error, body)


@router.post(
    "/{patient_id}/adverse-events",
    status_code=201,
    summary="Record an adverse event",
    responses=ANSWER,
)
def record_adverse_event(
    body: AdverseEventBody,
    patient: PatientToChange,
) -> Any:
    """Record an AE; the response carries the dose recommendation and the DLT verdict."""
    return patient.record(commands.record_adverse_event, body)


@router.post(
    "/{patient_id}/adverse-events/{ae_id}/grades",
    status_code=201,
    summary="Record an AE's new grade (0 = resolved)",
    responses=ANSWER,
)
def change_grade(
    patient_id: UUID,  # declared here too, so that it comes before ae_id in the OpenAPI schema
    ae_id: UUID,
    body: GradeChange,
    patient: PatientToChange,
) -> Any:
    """A grade change or resolution; may bring a new recommendation (e.g. resume)."""
    return patient.record(commands.change_grade, body, ae_id=ae_id)


@router.post(
    "/{patient_id}/skin-assessments",
    status_code=201,
    summary="Record a visit's skin assessment",
    responses=ANSWER,
)
def record_skin_assessment(
    body: SkinAssessmentBody,
    patient: PatientToChange,
) -> Any:
    """Grade, location and % BSA of acneiform rash; feeds the rash rules."""
    return patient.record(commands.record_skin_assessment, body)


@router.post(
    "/{patient_id}/dose-actions",
    status_code=201,
    summary="Hold, reduce, resume or discontinue",
    responses=ANSWER,
)
def record_dose_action(
    body: DoseAction,
    patient: PatientToChange,
) -> Any:
    """The investigator's dose action; departing from the recommendation needs a reason."""
    return patient.record(commands.record_dose_action, body)


@router.post(
    "/{patient_id}/dlt-outcome",
    status_code=201,
    summary="Record the DLT-window outcome",
    responses=ANSWER,
)
def record_dlt_outcome(
    body: DltOutcome,
    patient: PatientToChange,
) -> Any:
    """DLT, completion without DLT (with the share of doses taken), or not evaluable."""
    return patient.record(commands.record_dlt_outcome, body)
