"""The dosing record (domain.md §5a): which days a dose may be recorded on, and when a dose given
against an open requirement is a protocol deviation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from domain.errors import CommandRefused
from domain.patient.requirements import HoldPeriod, Requirement


def check_dose_day(
    subject_id: str, day: dt.date, dose_days: Sequence[dt.date], holds: Sequence[HoldPeriod]
) -> None:
    """One dose record a day, and none on a day inside a hold, past or open."""
    if day in dose_days:
        raise CommandRefused(
            f"a dose is already recorded for subject {subject_id} on {day}",
            rule="dose_already_recorded",
            field="clinical_date",
        )
    for period in holds:
        if period.covers(day):
            until = "now" if period.end is None else f"the resume on {period.end}"
            raise CommandRefused(
                f"dosing of subject {subject_id} was withheld from {period.start} to {until}; "
                f"no dose can be recorded on {day}",
                rule="dose_withheld",
                field="clinical_date",
            )


def check_deviation(
    subject_id: str, blocking: Sequence[Requirement], deviation_reason: str
) -> bool:
    """True when the dose is a deviation (an open withhold or discontinue requirement, and a
    reason given); refused when one of the two is missing."""
    if blocking and not deviation_reason.strip():
        what = "; ".join(f"{r.action} (rule {r.rule}, AE {r.ae_id})" for r in blocking)
        raise CommandRefused(
            f"subject {subject_id} has open requirements: {what}; a dose now is a protocol "
            "deviation: record it as one, with a reason",
            rule="dose_against_requirement",
        )
    if not blocking and deviation_reason.strip():
        raise CommandRefused(
            "no open withhold or discontinue requirement: this dose is not a deviation",
            rule="not_a_deviation",
            field="reason",
        )
    return bool(blocking)
