"""Reminders (read model): what is open, due, issued or cleared, by trial, patient and kind."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from adapters.http.auth import READERS, Principal, allow
from adapters.http.deps import Ledger
from adapters.http.routes.reads import Models
from adapters.http.routes.trials import ERRORS
from adapters.http.schemas import IsoInstant
from domain.reminders import KINDS, ReminderKind

router = APIRouter(tags=["reminders"], responses=ERRORS)
MAX_LIMIT = 1000


class ReminderView(BaseModel):
    """One reminder: what, for whom, when due, and where it stands."""

    id: UUID
    kind: ReminderKind
    trial_id: UUID
    patient_id: UUID | None
    due_at: dt.datetime
    state: Literal["open", "due", "issued", "cleared"]
    fired_at: dt.datetime | None


@router.get("/reminders", summary="Reminders (read model)", response_model=list[ReminderView])
def reminders(
    ledger: Ledger,
    models: Models,
    who: Annotated[Principal, Depends(allow(*READERS))],
    trial_id: UUID | None = None,
    patient_id: UUID | None = None,
    kind: Annotated[ReminderKind | None, Query(description=f"one of {', '.join(KINDS)}")] = None,
    state: Annotated[
        Literal["open", "due", "issued", "cleared"] | None,
        Query(description="open (includes due), due (open and due now), issued, cleared"),
    ] = None,
    due_before: Annotated[
        IsoInstant | None, Query(description="ISO 8601 instant with offset; due strictly before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Any:
    """Reminders in due order. Investigators see their own site's patients' reminders only.

    ``state=due`` is what the next scheduler tick would issue; an open follow-up eye exam
    shows the cycle current now. ``fired_at`` is when a tick issued it.
    """
    site = who.key.site_id if who.role == "investigator" else None
    now = ledger.clock()
    before = None if due_before is None else _utc(due_before)
    return models.read(
        lambda p: p.reminders(
            at=now,
            trial_id=trial_id,
            patient_id=patient_id,
            kind=kind,
            state=state,
            due_before=before,
            site_id=site,
            limit=limit,
        )
    )


def _utc(instant: dt.datetime) -> dt.datetime:
    return instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant
