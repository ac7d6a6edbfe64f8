"""The record an SRC packet is built from, as plain data: a trial and its patients replayed up to
an instant, each with its events, and the open follow-ups that history leaves.

Everything after this module (``content``, ``plots``, ``html``) is a function of the plain data
returned here: JSON-ready values (text, numbers, lists, dicts), no aggregate, no event object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from domain.patient import Patient
from domain.reminder_schedule import patient_reminders, trial_reminders
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary

_ENVELOPE = {"originator_id", "originator_version", "timestamp"}


def plain(value: Any) -> Any:
    """A value of an event or a state as JSON-ready data (ids, dates and instants as text)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="json"))
    return value


def plain_event(event: Any) -> dict[str, Any]:
    """One domain event as plain data: its class name, version, recording instant and fields."""
    fields = {k: plain(v) for k, v in vars(event).items() if k not in _ENVELOPE}
    return {
        "event": type(event).__name__,
        "version": event.originator_version,
        "recorded_at": plain(event.timestamp),
        **fields,
    }


def trial_record(trial: Trial, events: Sequence[Any]) -> dict[str, Any]:
    """The trial's summary, its protocol, its events and the SRC reminders it leaves open."""
    return {
        "summary": trial_summary(trial),
        "protocol": trial.protocol.model_dump(mode="json"),
        "events": [plain_event(e) for e in events],
        "open_reminders": [r.as_record() for r in trial_reminders(events)],
    }


def patient_record(
    patient: Patient,
    events: Sequence[Any],
    *,
    at: dt.datetime,
    cycle_length_days: int,
    eye_terms: Collection[str],
    eye_exam_window_days: int,
) -> dict[str, Any]:
    """One patient's summary, what the summary leaves out (DLT verdicts and the days of each
    AE's grades), its events and the follow-ups open at ``at``."""
    summary = patient_summary(patient)
    verdicts = {
        str(ae.id): {
            "dlt_verdict": ae.dlt_verdict,
            "dlt_criterion": ae.dlt_criterion,
            "dlt_reached_on": plain(ae.dlt_reached_on),
        }
        for ae in patient.adverse_events.values()
    }
    for ae in summary["adverse_events"]:
        ae.update(verdicts[ae["id"]])
    open_reminders = patient_reminders(
        events,
        at=at,
        cycle_length_days=cycle_length_days,
        eye_terms=eye_terms,
        eye_exam_window_days=eye_exam_window_days,
    )
    return {
        "summary": summary,
        "discontinued_on": plain(patient.discontinued_on),
        "dose_days": [d.isoformat() for d in patient.dose_days],
        "events": [plain_event(e) for e in events],
        "open_reminders": [r.as_record() for r in open_reminders],
    }


def packet_record(
    trial: Trial,
    trial_events: Sequence[Any],
    patients: Sequence[tuple[Patient, Sequence[Any]]],
    *,
    eye_terms: Collection[str],
    binding: dict[str, Any],
    as_of: dt.datetime | None,
) -> dict[str, Any]:
    """Everything a packet shows, as plain data.

    ``binding``: where the record ends in the log (``position``, ``chain_seq``, ``chain_head``,
    ``recorded_at`` of that event). Follow-ups are open as of ``as_of``, or as of the record's
    last event when the packet is of the latest record, so the same record gives the same packet.
    """
    at = as_of if as_of is not None else dt.datetime.fromisoformat(binding["recorded_at"])
    protocol = trial.protocol
    return {
        "as_of": None if as_of is None else plain(as_of),
        "at": plain(at),
        "binding": binding,
        "trial": trial_record(trial, trial_events),
        "patients": [
            patient_record(
                patient,
                events,
                at=at,
                cycle_length_days=protocol.schedule.cycle_length_days,
                eye_terms=eye_terms,
                eye_exam_window_days=protocol.eye_exam_window_days,
            )
            for patient, events in patients
        ],
    }
