"""Reminders (read model): what is open, due, issued or cleared, by trial, patient and kind."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Query

from adapters.http import pages
from adapters.http.auth import READERS, Principal, allow
from adapters.http.consistency import Models
from adapters.http.deps import Ledger
from adapters.http.openapi_parts import ok
from adapters.http.routers import api_router
from adapters.http.routes.trials import ERRORS
from adapters.http.schemas import IsoInstant
from adapters.http.views import ReminderPage
from domain.reminder_schedule import KINDS, ReminderKind

router = api_router(tags=["reminders"], responses=ERRORS)


@router.get(
    "/reminders",
    summary="Reminders (read model), a page at a time",
    response_model=None,
    responses=ok(ReminderPage),
)
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
    after: pages.After = None,
    limit: pages.Limit = 100,
) -> Any:
    """Reminders in due order (then by id), a page at a time: ``{"reminders": [...], "next"}``.
    Investigators see their own site's patients' reminders only.

    ``state=due`` is what the next scheduler tick would issue; an open follow-up eye exam
    shows the cycle current now. ``fired_at`` is when a tick issued it.
    """
    site = who.key.site_id if who.role == "investigator" else None
    now = ledger.clock()
    before = None if due_before is None else _utc(due_before)
    rows = models.read(
        lambda p: p.reminders(
            at=now,
            trial_id=trial_id,
            patient_id=patient_id,
            kind=kind,
            state=state,
            due_before=before,
            site_id=site,
            after=_reminder_key(after),
            limit=limit,
        ),
        "reminder_index",
    )
    return pages.page(rows, limit, "reminders", _cursor_key)


def _reminder_key(after: str | None) -> tuple[dt.datetime, UUID] | None:
    """A cursor (µs since 0001-01-01 UTC of the due time shown, the id as an integer) read back."""
    found = pages.key(after, width=2, digits=39)
    if found is None:
        return None
    micros, ident = found
    try:
        return _EPOCH + dt.timedelta(microseconds=micros), UUID(int=ident)
    except (OverflowError, ValueError):
        raise pages.bad_cursor(str(after)) from None


def _cursor_key(row: dict[str, Any]) -> tuple[int, int]:
    due = dt.datetime.fromisoformat(row["due_at"]).astimezone(dt.UTC)
    return (due - _EPOCH) // dt.timedelta(microseconds=1), UUID(row["id"]).int


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def _utc(instant: dt.datetime) -> dt.datetime:
    return instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant
