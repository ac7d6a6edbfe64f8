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
        "enrolment_date": patient.enrolment_date.isoformat(),
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
        "hold": None if patient.hold is None else patient.hold.as_record(),
        "open_recommendation": _plain(patient.open_recommendation),
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
            }
            for ae in patient.adverse_events.values()
        ],
        "baseline_eye_exam": _plain(patient.baseline_eye_exam),
        "baseline_skin_exam": _plain(patient.baseline_skin_exam),
    }


def _window_last_day(patient: Patient) -> dt.date | None:
    # A first dose stored near date.max (an old store, before dates were bounded by the
    # site's today) would overflow the aggregate's own arithmetic: shown as date.max.
    try:
        return patient.dlt_window_last_day
    except OverflowError:
        return dt.date.max


def _plain(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: str(v) if k == "ae_id" and v is not None else _iso(v) for k, v in record.items()}
