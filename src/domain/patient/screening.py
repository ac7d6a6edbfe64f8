"""Screening (domain.md §7): the baseline eye and skin exams come before the first dose."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.errors import CommandRefused
from domain.vision import parse_bcva


def exam_acuity(bcva_right: str, bcva_left: str) -> dict[str, Any]:
    """An exam's BCVA fields: as written, and in logMAR (refused when unreadable)."""
    return {
        "bcva_right": bcva_right.strip(),
        "bcva_left": bcva_left.strip(),
        "bcva_right_logmar": parse_bcva(bcva_right).logmar,
        "bcva_left_logmar": parse_bcva(bcva_left).logmar,
    }


def check_before_dosing(first_dose: dt.date | None, exam: str) -> None:
    """A baseline exam is recorded before the first dose."""
    if first_dose is not None:
        raise CommandRefused(
            f"dosing started on {first_dose}; a baseline {exam} exam comes before it",
            rule="baseline_after_dosing",
            field="clinical_date",
        )


def check_ready_to_dose(
    subject_id: str,
    first_dose: dt.date,
    eye_exam: dict[str, Any] | None,
    skin_exam: dict[str, Any] | None,
) -> None:
    """The first dose needs both baseline exams, dated on or before it."""
    for exam, record in (("eye", eye_exam), ("skin", skin_exam)):
        if record is None:
            raise CommandRefused(
                f"subject {subject_id} has no baseline {exam} exam; "
                "dosing must not start without it",
                rule=f"baseline_{exam}_exam_required",
            )
        if first_dose < record["date"]:
            raise CommandRefused(
                f"first dose {first_dose} is before the baseline {exam} exam ({record['date']})",
                rule="dose_before_baseline",
                field="clinical_date",
            )
