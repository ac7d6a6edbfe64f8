"""Trials: register, list, read, enrol patients, SRC decisions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Response

from adapters.http.consistency import Models
from adapters.http.deps import (
    Admin,
    IfMatch,
    Ledger,
    Reader,
    SiteWriter,
    SrcMember,
    Work,
    check_if_match,
    etag,
)
from adapters.http.openapi_parts import ETAG, LOCATION, ok
from adapters.http.pages import After, Limit, page_at, position
from adapters.http.problems import problem_responses
from adapters.http.routers import api_router
from adapters.http.schemas import (
    DltAdjudication,
    EnrolPatient,
    Problem,
    RegisterFromTemplate,
    RegisterTrial,
    ReviewDecision,
    SignDecision,
)
from adapters.http.views import Patient, Trial, TrialPage
from adapters.http.write_slots import WriteSlotRoute
from domain.errors import InvalidInput, NotFound
from domain.protocol import protocol_from_mapping, template

ERRORS: dict[int | str, dict[str, Any]] = problem_responses(
    {
        401: {"model": Problem, "description": "No valid API key"},
        403: {"model": Problem, "description": "The key's role or site may not do this"},
        404: {"model": Problem, "description": "No such trial"},
        409: {"model": Problem, "description": "Lost a race with another writer"},
        412: {"model": Problem, "description": "If-Match is stale"},
        422: {"model": Problem, "description": "Invalid input, or a rule refused the command"},
    }
)
router = api_router(prefix="/trials", tags=["trials"], responses=ERRORS, route_class=WriteSlotRoute)


@router.post(
    "",
    status_code=201,
    summary="Register a trial from a template or a protocol",
    responses=ok(Trial, 201, headers=ETAG | LOCATION),
)
def register_trial(
    body: RegisterTrial, ledger: Ledger, who: Admin, response: Response, uow: Work
) -> Any:
    """Register a trial; its first cohort opens at the protocol's starting level."""
    if isinstance(body, RegisterFromTemplate):
        try:
            protocol = template(body.template_id)
        except NotFound as exc:
            raise InvalidInput(exc.message, field="template_id") from None
    else:
        protocol = protocol_from_mapping(body.protocol)
    trial_id = ledger.register_trial(protocol, who.actor, name=body.name, uow=uow)
    trial = ledger.trial(trial_id)
    response.headers["ETag"] = etag(trial["version"])
    response.headers["Location"] = f"/trials/{trial_id}"
    return trial


@router.get(
    "",
    summary="List trials, a page at a time",
    response_model=None,
    responses=ok(TrialPage),
)
def list_trials(
    models: Models, who: Reader, after: After = None, limit: Limit = 100
) -> dict[str, Any]:
    """Trials in registration order (id, name, protocol, status, current level, MTD):
    `{"trials": [...], "next": ...}`; pass `next` as `after` for the next page (null: none)."""
    rows, following = models.read(lambda q: q.trial_list(position(after), limit), "trial_overview")
    return page_at("trials", rows, following)


@router.get("/{trial_id}", summary="One trial", responses=ok(Trial, headers=ETAG))
def get_trial(trial_id: UUID, ledger: Ledger, who: Reader, response: Response) -> Any:
    """The trial's current state; the ETag is its version."""
    trial = ledger.trial(trial_id)
    response.headers["ETag"] = etag(trial["version"])
    return trial


@router.post(
    "/{trial_id}/dlt-adjudications",
    status_code=201,
    summary="Confirm or reject a DLT candidate",
    responses=ok(Trial, 201, headers=ETAG),
)
def adjudicate_dlt(
    trial_id: UUID,
    body: DltAdjudication,
    ledger: Ledger,
    who: SrcMember,
    response: Response,
    uow: Work,
    if_match: IfMatch = None,
) -> Any:
    """An SRC member confirms (a DLT on the cohort) or rejects a DLT candidate, with a reason."""
    # One unit of work: the trial checked is the one changed and answered (one load).
    check_if_match(if_match, ledger.trial(trial_id, uow=uow)["version"], uow, trial_id)
    ledger.adjudicate_dlt(
        trial_id,
        body.patient_id,
        body.ae_id,
        body.confirmed,
        who.actor,
        reason=body.reason,
        uow=uow,
    )
    trial = ledger.trial(trial_id, uow=uow)
    response.headers["ETag"] = etag(trial["version"])
    return trial


@router.post(
    "/{trial_id}/patients",
    status_code=201,
    summary="Enrol a patient",
    responses=ok(
        Patient, 201, headers=ETAG | LOCATION, description="The new patient (ETag: the trial's)"
    ),
)
def enrol_patient(
    trial_id: UUID,
    body: EnrolPatient,
    ledger: Ledger,
    who: SiteWriter,
    response: Response,
    uow: Work,
    if_match: IfMatch = None,
) -> Any:
    """Enrol a patient into the open cohort (investigators: their own site only).

    The answer is the new patient (its `version` in the body, its URL in `Location`); as on
    every route, `If-Match` and the answer's `ETag` are those of the resource the URL names:
    here the trial, at its version after the enrolment."""
    who.check_site(body.site_id)
    # One unit of work: the trial checked is the one changed and answered (one load).
    check_if_match(if_match, ledger.trial(trial_id, uow=uow)["version"], uow, trial_id)
    patient_id = ledger.enrol_patient(
        trial_id,
        body.site_id,
        who.actor,
        subject_id=body.subject_id,
        site_time_zone=body.site_time_zone,
        enrolment_date=body.enrolment_date,
        uow=uow,
    )
    response.headers["ETag"] = etag(ledger.trial(trial_id, uow=uow)["version"])
    response.headers["Location"] = f"/patients/{patient_id}"
    return ledger.patient(patient_id)


@router.post(
    "/{trial_id}/decisions/{cohort}/reviews",
    status_code=201,
    summary="Sign the SRC's re-review of a flagged decision",
    responses=ok(Trial, 201, headers=ETAG),
)
def review_decision(
    trial_id: UUID,
    cohort: int,
    body: ReviewDecision,
    ledger: Ledger,
    who: SrcMember,
    response: Response,
    uow: Work,
    if_match: IfMatch = None,
) -> Any:
    """A correction changed the DLT count of a decided cohort: the SRC re-reviews its decision
    (it stands, or is revised by the next decisions); clears the src_rereview reminder."""
    # One unit of work: the trial checked is the one changed and answered (one load).
    check_if_match(if_match, ledger.trial(trial_id, uow=uow)["version"], uow, trial_id)
    ledger.review_decision(
        trial_id, cohort, body.outcome, who.actor, reason=body.reason, meaning=body.meaning, uow=uow
    )
    trial = ledger.trial(trial_id, uow=uow)
    response.headers["ETag"] = etag(trial["version"])
    return trial


@router.post(
    "/{trial_id}/decisions",
    status_code=201,
    summary="Sign the SRC's decision",
    responses=ok(Trial, 201, headers=ETAG),
)
def sign_decision(
    trial_id: UUID,
    body: SignDecision,
    ledger: Ledger,
    who: SrcMember,
    response: Response,
    uow: Work,
    if_match: IfMatch = None,
) -> Any:
    """The safety review committee's signed decision on the open cohort."""
    # One unit of work: the trial checked is the one changed and answered (one load).
    check_if_match(if_match, ledger.trial(trial_id, uow=uow)["version"], uow, trial_id)
    ledger.sign_decision(
        trial_id,
        body.cohort,
        body.decision,
        who.actor,
        meaning=body.meaning,
        mtd_level=body.mtd_level,
        reason=body.reason,
        packet_sha256=body.packet_sha256,
        uow=uow,
    )
    trial = ledger.trial(trial_id, uow=uow)
    response.headers["ETag"] = etag(trial["version"])
    return trial
