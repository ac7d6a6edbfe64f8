"""Per patient: the marker of the escalation plot and the lane of the swimmer plot.

Days are study days: day 1 is the first dose (domain.md §6), so a date D is day
``(D - first dose) + 1``. A lane runs from day 1 to the day treatment ended (all agents
discontinued, death, leaving the study) or, while the patient is on study, to the latest clinical
date recorded for the patient (its last contact), marked as ongoing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

MARKER_KINDS = ("dlt", "no_dlt", "not_evaluable", "in_window")
"""One marker per patient: a DLT, no DLT, not evaluable (replaced), still in the DLT window."""
_OUTCOME_KIND = {"dlt": "dlt", "no_dlt": "no_dlt", "not_evaluable": "not_evaluable"}


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def marker_kind(summary: Mapping[str, Any]) -> str:
    """The patient's marker: the DLT-window outcome, or still in (or before) the window."""
    return _OUTCOME_KIND.get(summary.get("dlt_outcome") or "", "in_window")


def _ladder_steps(protocol: Mapping[str, Any], doses: Sequence[Mapping[str, Any]]) -> list[int]:
    ladders = protocol.get("reduction_ladders") or {}
    steps = []
    for dose in doses:
        ladder = ladders.get(dose["agent"]) or []
        steps.append(next((i for i, step in enumerate(ladder) if step == dose), 0))
    return steps


def rung(protocol: Mapping[str, Any], start: Sequence[Mapping[str, Any]], now: Any) -> int:
    """Steps down the reduction ladders from the starting doses (0: the level's own dose)."""
    before, after = _ladder_steps(protocol, start), _ladder_steps(protocol, now)
    return max(0, sum(a - b for a, b in zip(after, before, strict=False)))


def _label(doses: Sequence[Mapping[str, Any]]) -> str:
    return " + ".join(f"{d['agent']} {d['amount']:g} {d['unit']} {d['frequency']}" for d in doses)


def lane(
    patient: Mapping[str, Any], protocol: Mapping[str, Any], last_day: dt.date
) -> dict[str, Any]:
    """One patient's swimmer lane (study days), from its record (``record.patient_record``)."""
    summary = patient["summary"]
    first = _date(summary["first_dose"])
    base = {
        "patient_id": summary["id"],
        "subject_id": summary["subject_id"],
        "level": summary["level"],
        "cohort": summary["cohort"],
        "marker": marker_kind(summary),
        "started": first is not None,
        "window_days": None,
        "end_day": None,
        "end": None,
        "segments": [],
        "holds": [],
        "aes": [],
        "dlt_days": [],
    }
    if first is None:
        return base

    def day(d: dt.date) -> int:
        return (d - first).days + 1

    died, stopped = _date(summary["died_on"]), _date(patient.get("discontinued_on"))
    left = None
    if summary["dlt_outcome"] == "not_evaluable":
        left = next(
            (
                _date(e["clinical_date"])
                for e in reversed(patient["events"])
                if e["event"] == "DLTWindowClosed" and e["outcome"] == "not_evaluable"
            ),
            None,
        )
    ends = [
        (when, what)
        for when, what in ((died, "died"), (stopped, "discontinued"), (left, "left the study"))
        if when is not None
    ]
    # Still on study: the lane runs to the last day the record tells of (its latest clinical
    # date, not after the record's own last day), marked as going on.
    seen = [_date(e.get("clinical_date")) for e in patient["events"]]
    contact = max([d for d in seen if d is not None and d <= last_day] or [first])
    end_date, end = min(ends) if ends else (contact, "ongoing")
    end_day = max(day(end_date), 1)
    start_doses = next(e["doses"] for e in patient["events"] if e["event"] == "Enrolled")
    changes = [(1, start_doses)]
    for e in patient["events"]:
        if e["event"] in ("DoseReduced", "DoseResumed") and e["from_doses"] != e["to_doses"]:
            changes.append((day(dt.date.fromisoformat(e["clinical_date"])), e["to_doses"]))
    segments = []
    for i, (start, doses) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else end_day + 1
        if stop > start:
            segments.append(
                {
                    "start": start,
                    "end": min(stop, end_day + 1),
                    "rung": rung(protocol, start_doses, doses),
                    "doses": _label(doses),
                }
            )
    holds = [
        {
            "start": day(dt.date.fromisoformat(h["start"])),
            "end": end_day + 1 if h["end"] is None else day(dt.date.fromisoformat(h["end"])),
        }
        for h in summary["holds"]
    ]
    aes = [
        {
            "ae_id": ae["id"],
            "term": ae["term"],
            "grade": ae["worst_grade"],
            "day": day(dt.date.fromisoformat(ae["onset"])),
            "dlt": ae["dlt_verdict"] == "dlt",
        }
        for ae in summary["adverse_events"]
        if not ae["entered_in_error"]
    ]
    dlt_days = sorted(
        day(dt.date.fromisoformat(ae["dlt_reached_on"]))
        for ae in summary["adverse_events"]
        if not ae["entered_in_error"]
        and ae["dlt_verdict"] == "dlt"
        and ae["dlt_reached_on"] is not None
        and summary["dlt_outcome"] == "dlt"
    )
    return base | {
        "window_days": patient_window_days(patient),
        "end_day": end_day,
        "end": end,
        "segments": segments,
        "holds": holds,
        "aes": aes,
        "dlt_days": dlt_days[:1],
    }


def patient_window_days(patient: Mapping[str, Any]) -> int:
    """The patient's DLT window in days (from its enrolment)."""
    enrolled = next(e for e in patient["events"] if e["event"] == "Enrolled")
    return int(enrolled["dlt_window_days"])
