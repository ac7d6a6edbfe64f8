"""Patients: read one, and record what happens to them (exams, dosing, AEs, dose actions)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from adapters import patient_commands as commands
from adapters.http.auth import Principal
from adapters.http.deps import (
    IfMatch,
    Ledger,
    Reader,
    SiteWriterToConfirm,
    check_if_match,
    etag,
)
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
from adapters.http.views import ETAG, Patient, ok
from adapters.patient_commands import Extra, answer
from adapters.services import DoseLedger

ANSWER = ok(Patient, 201, headers=ETAG, description="The patient's state after the command")
router = APIRouter(prefix="/patients", tags=["patients"], responses=ERRORS)


@contextmanager
def _guarded(
    ledger: DoseLedger, patient_id: UUID, who: Principal, if_match: str | None
) -> Iterator[None]:
    """The key confirmed live, site scoping for investigators and If-Match against the
    patient's version, then the command and the answer, from one load of the patient."""
    who.confirm()
    with ledger.unit_of_work():
        patient = ledger.patient_aggregate(patient_id)
        who.check_patient(patient_id, patient.site_id)
        check_if_match(if_match, patient.version, ledger, patient_id)
        yield


def _answer(ledger: DoseLedger, patient_id: UUID, extra: Extra) -> JSONResponse:
    """201 with the patient's state; already JSON-ready, so FastAPI's encoder is skipped."""
    body = answer(ledger, patient_id, extra)
    return JSONResponse(body, status_code=201, headers={"ETag": etag(body["version"])})


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
    patient_id: UUID,
    body: EyeExam,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """An ophthalmology exam (BCVA per eye, slit lamp): the baseline before the first dose, or
    on treatment a cycle's follow-up or a visual-AE referral (each clears its reminder)."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_eye_exam(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/skin-exams",
    status_code=201,
    summary="Record the baseline skin exam",
    responses=ANSWER,
)
def record_skin_exam(
    patient_id: UUID,
    body: SkinExam,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """The baseline skin examination, before the first dose."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_skin_exam(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post("/{patient_id}/dosing", status_code=201, summary="Start dosing", responses=ANSWER)
def start_dosing(
    patient_id: UUID,
    body: ClinicalDate,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """The first dose (refused without the baseline eye and skin exams)."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.start_dosing(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/doses", status_code=201, summary="Record a dose given", responses=ANSWER
)
def record_dose(
    patient_id: UUID,
    body: DoseGiven,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """A day's dose. Refused inside a hold, after a discontinuation, death or withdrawal; against
    an open withhold or discontinue requirement only as a deviation with ``deviation_reason``."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_dose(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/missed-doses", status_code=201, summary="Record a missed dose", responses=ANSWER
)
def record_missed_dose(
    patient_id: UUID,
    body: MissedDose,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """A planned dose not taken: it lowers the share of planned doses (evaluability)."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_missed_dose(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/corrections",
    status_code=201,
    summary="Correct a recorded fact",
    responses=ANSWER,
)
def correct(
    patient_id: UUID,
    body: Correction,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """Correct an AE (grade, onset, attribution, seriousness) or a dose's date, with a reason;
    requirements, the DLT outcome and the cohort follow (a decided cohort is flagged)."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.correct(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/entered-in-error",
    status_code=201,
    summary="Mark a fact entered in error",
    responses=ANSWER,
)
def mark_in_error(
    patient_id: UUID,
    body: EnteredInError,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """An AE, dose or missed dose that should never have been recorded: it stops counting;
    the history keeps it, with the reason."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.mark_in_error(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/adverse-events",
    status_code=201,
    summary="Record an adverse event",
    responses=ANSWER,
)
def record_adverse_event(
    patient_id: UUID,
    body: AdverseEventBody,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """Record an AE; the response carries the dose recommendation and the DLT verdict."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_adverse_event(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/adverse-events/{ae_id}/grades",
    status_code=201,
    summary="Record an AE's new grade (0 = resolved)",
    responses=ANSWER,
)
def change_grade(
    patient_id: UUID,
    ae_id: UUID,
    body: GradeChange,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """A grade change or resolution; may bring a new recommendation (e.g. resume)."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.change_grade(ledger, patient_id, body, who.actor, ae_id=ae_id)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/skin-assessments",
    status_code=201,
    summary="Record a visit's skin assessment",
    responses=ANSWER,
)
def record_skin_assessment(
    patient_id: UUID,
    body: SkinAssessmentBody,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """Grade, location and % BSA of acneiform rash; feeds the rash rules."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_skin_assessment(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/dose-actions",
    status_code=201,
    summary="Hold, reduce, resume or discontinue",
    responses=ANSWER,
)
def record_dose_action(
    patient_id: UUID,
    body: DoseAction,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """The investigator's dose action; departing from the recommendation needs a reason."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_dose_action(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)


@router.post(
    "/{patient_id}/dlt-outcome",
    status_code=201,
    summary="Record the DLT-window outcome",
    responses=ANSWER,
)
def record_dlt_outcome(
    patient_id: UUID,
    body: DltOutcome,
    ledger: Ledger,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> Any:
    """DLT, completion without DLT (with the share of doses taken), or not evaluable."""
    with _guarded(ledger, patient_id, who, if_match):
        extra = commands.record_dlt_outcome(ledger, patient_id, body, who.actor)
        return _answer(ledger, patient_id, extra)
