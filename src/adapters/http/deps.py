"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Request

from adapters.access import ADMINS, CLINICAL_WRITERS, READERS, SRC
from adapters.http.auth import Principal, allow
from adapters.services import DoseLedger


async def _ledger(request: Request) -> DoseLedger:
    ledger: DoseLedger = request.app.state.ledger
    return ledger


Ledger = Annotated[DoseLedger, Depends(_ledger)]
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


def check_if_match(
    if_match: str | None, version: int, ledger: DoseLedger, aggregate_id: UUID
) -> None:
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
    ledger.expect_version(aggregate_id, version)


def etag(version: int) -> str:
    """The ETag of an aggregate version."""
    return f'"{version}"'
