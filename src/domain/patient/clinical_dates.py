"""Dates a clinic can have (domain.md §7a): checked on arrival, before anything is recorded.

A clinical date is the site's calendar date. It is never after the site's today, never before
the patient's enrolment date (baseline exams may precede it by the screening window), and
never out of order where order matters. Refusals name the field and the limit.
"""

from __future__ import annotations

import datetime as dt

from domain.errors import CommandRefused

SCREENING_WINDOW_DAYS = 28
"""Baseline exams may precede enrolment by up to this many days (protocol default)."""


def check_not_future(day: dt.date, today: dt.date, *, field: str = "clinical_date") -> None:
    """Refuse a date after the site's today."""
    if day > today:
        raise CommandRefused(
            f"{field} {day} is after the site's today ({today}); a clinical date cannot be "
            "in the future",
            rule="date_in_future",
            field=field,
        )


def check_not_before(
    day: dt.date, limit: dt.date, what: str, *, rule: str, field: str = "clinical_date"
) -> None:
    """Refuse a date before ``limit`` (``what`` names the limit in the message)."""
    if day < limit:
        raise CommandRefused(f"{field} {day} is before {what} ({limit})", rule=rule, field=field)


def check_clinical_date(
    day: dt.date,
    today: dt.date,
    enrolled_on: dt.date | None,
    *,
    field: str = "clinical_date",
    screening: bool = False,
) -> None:
    """A date after enrolment (or in the screening window before it) and not in the future.
    A patient enrolled before enrolment dates were recorded has none: only the future is
    refused."""
    check_not_future(day, today, field=field)
    if enrolled_on is None:
        return
    if screening:
        earliest = enrolled_on - dt.timedelta(days=SCREENING_WINDOW_DAYS)
        check_not_before(
            day,
            earliest,
            f"the {SCREENING_WINDOW_DAYS}-day screening window before enrolment",
            rule="date_before_screening",
            field=field,
        )
    else:
        check_not_before(
            day, enrolled_on, "the enrolment date", rule="date_before_enrolment", field=field
        )
