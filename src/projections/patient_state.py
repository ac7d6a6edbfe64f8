"""Plain-data view of a Patient aggregate: doses, holds, adverse events, recommendations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.patient import Patient


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def patient_summary(patient: Patient) -> dict[str, Any]:
    """The patient as JSON-ready data, identified only by ids and the pseudonymous subject id."""
    return {
        "id": str(patient.id),
        "trial_id": str(patient.trial_id),
        "subject_id": patient.subject_id,
        "site_id": patient.site_id,
        "site_time_zone": patient.site_time_zone,
        "enrolment_date": _iso(patient.enrolment_date),
        "version": patient.version,
        "cohort": patient.cohort,
        "level": patient.level,
        "status": patient.status,
        "dosing": patient.dosing_status,
        "doses": [d.label for d in patient.doses],
        "discontinued_agents": patient.discontinued_agents,
        "first_dose": _iso(patient.first_dose_date),
        "dlt_window_last_day": _iso(_window_last_day(patient)),
        "dlt_outcome": patient.dlt_outcome,
        "dlt_candidates": [str(ae_id) for ae_id in patient.dlt_candidates],
        "hold": _hold(patient),
        "requirements": [r.as_record() for r in patient.requirements.values()],
        "holds": [h.as_record() for h in patient.holds],
        "doses_recorded": len(patient.dose_days),
        "missed_doses": [d.isoformat() for d in patient.missed_days],
        "deviations": patient.deviations,
        "died_on": _iso(patient.died_on),
        "adverse_events": [
            {
                "id": str(ae.id),
                "term": ae.term,
                "grade": ae.grade,
                "worst_grade": ae.worst_grade,
                "onset": ae.onset.isoformat(),
                "resolved_on": _iso(ae.resolved_on),
                "occurrence": ae.occurrence,
                "attribution": ae.attribution,
                "serious": ae.serious,
                # Kept for the record, marked: no rule counts it, and it cannot be graded.
                "entered_in_error": ae.in_error,
            }
            for ae in patient.adverse_events.values()
        ],
        "baseline_eye_exam": plain_record(patient.baseline_eye_exam),
        "baseline_skin_exam": plain_record(patient.baseline_skin_exam),
    }


def _hold(patient: Patient) -> dict[str, Any] | None:
    """The open hold: since when, and what each withheld AE needs before dosing resumes."""
    hold = patient.current_hold
    if hold is None:
        return None
    reqs = patient.withholds
    deadlines = [r.deadline for r in reqs if r.deadline is not None]
    return {
        "since": hold.start.isoformat(),
        "ae_ids": [str(r.ae_id) for r in reqs],
        "resume": "reduced" if any(r.resume == "reduced" for r in reqs) else "same",
        "resume_condition": "; ".join(r.condition() for r in reqs) or "investigator's decision",
        "deadline": min(deadlines).isoformat() if deadlines else None,
        "rules": [r.rule for r in reqs],
    }


def _window_last_day(patient: Patient) -> dt.date | None:
    # A first dose stored near date.max (an old store, before dates were bounded by the
    # site's today) would overflow the aggregate's own arithmetic: shown as date.max.
    try:
        return patient.dlt_window_last_day
    except OverflowError:
        return dt.date.max


def plain_record(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A recorded recommendation or exam as JSON-ready data (ids and dates as text)."""
    if record is None:
        return None
    return {k: str(v) if k == "ae_id" and v is not None else _iso(v) for k, v in record.items()}
