"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from adapters.access import ADMINS, CLINICAL_WRITERS, READERS, SRC
from adapters.application import DoseLedger, UnitOfWork
from adapters.http.auth import Principal, allow
from adapters.http.idempotency import FENCE, UNIT_OF_WORK
from adapters.patient_commands import PatientCommand, answer


async def _ledger(request: Request) -> DoseLedger:
    ledger: DoseLedger = request.app.state.ledger
    return ledger


async def _unit_of_work(request: Request) -> UnitOfWork:
    """The request's one unit of work: its commits carry the Idempotency-Key claim's fence
    (set on the request's state by the middleware), which reads them back from the state."""
    work = UnitOfWork(fence=getattr(request.state, FENCE, None))
    setattr(request.state, UNIT_OF_WORK, work)
    return work


Ledger = Annotated[DoseLedger, Depends(_ledger)]
Work = Annotated[UnitOfWork, Depends(_unit_of_work)]
Reader = Annotated[Principal, Depends(allow(*READERS))]
Admin = Annotated[Principal, Depends(allow(*ADMINS))]
# Clinical data (enrolment and everything recorded about a patient) is recorded by the sites'
# investigators only: admins manage trials, sites and keys, never clinical data (separation
# of duties), and the other roles read. The role sets are adapters.access's, the CLI's too.
SiteWriter = Annotated[Principal, Depends(allow(*CLINICAL_WRITERS))]
# The same callers, for routes that confirm the key in their own worker thread (who.confirm()).
SiteWriterToConfirm = Annotated[Principal, Depends(allow(*CLINICAL_WRITERS, confirm_in_route=True))]
SrcMember = Annotated[Principal, Depends(allow(*SRC))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag you last saw; 412 if stale")
]


def check_if_match(if_match: str | None, version: int, uow: UnitOfWork, aggregate_id: UUID) -> None:
    """412 when the client's ETag is not the aggregate's version, now or when it is changed."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if str(version) not in tags:
        raise HTTPException(
            412,
            f'the resource changed: current ETag is "{version}"',
            headers={"ETag": etag(version)},
        )
    # The command loads the aggregate again: it must still be this version then.
    uow.expect_version(aggregate_id, version)


def etag(version: int) -> str:
    """The ETag of an aggregate version."""
    return f'"{version}"'


@dataclass(frozen=True)
class GuardedPatient:
    """A patient command's route, parsed: the patient, the caller, the request's unit of work
    and If-Match. ``record`` runs the guards in the route's own call, after FastAPI validated
    the body, so a bad body is still a 422 whoever's patient it names."""

    patient_id: UUID
    ledger: DoseLedger
    who: Principal
    uow: UnitOfWork
    if_match: str | None

    def record(self, command: PatientCommand, body: Any, **ids: UUID) -> JSONResponse:
        """The key confirmed live, site scoping for investigators and If-Match against the
        patient's version, then the command and 201 with the patient's state and what the
        command returned, from one load of the patient."""
        self.who.confirm()
        scope = self.ledger.patient_scope(self.patient_id, uow=self.uow)
        self.who.check_patient(self.patient_id, scope["site_id"])
        check_if_match(self.if_match, scope["version"], self.uow, self.patient_id)
        extra = command(self.ledger, self.patient_id, body, self.who.actor, uow=self.uow, **ids)
        state = answer(self.ledger, self.patient_id, extra, uow=self.uow)
        # Already JSON-ready, so FastAPI's encoder is skipped.
        return JSONResponse(state, status_code=201, headers={"ETag": etag(state["version"])})


async def _guarded_patient(
    patient_id: UUID,
    request: Request,
    who: SiteWriterToConfirm,
    if_match: IfMatch = None,
) -> GuardedPatient:
    # Async: it only gathers what the route's own worker thread then uses (a sync dependency
    # would cost a worker-thread round trip of its own). The ledger and the unit of work are
    # taken here, not as dependencies of their own: FastAPI solves each one on every request.
    # The unit of work is made after the key was admitted, as when it was a dependency.
    ledger: DoseLedger = request.app.state.ledger
    return GuardedPatient(patient_id, ledger, who, await _unit_of_work(request), if_match)


PatientToChange = Annotated[GuardedPatient, Depends(_guarded_patient)]
