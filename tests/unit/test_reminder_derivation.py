"""Reminders derived from events, without a store."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

from domain.ctcae import CtcaeCatalogue
from domain.patient import Patient
from domain.reminder_schedule import (
    KINDS,
    after,
    eye_disorder_terms,
    patient_reminders,
    reminder_id,
    start_of,
    trial_reminders,
)
from support import (
    ADMIN,
    INVESTIGATOR,
    SCHEDULE,
    SRC,
    TODAY,
    day,
    new_patient,
    new_trial,
    run_cohort,
)

AT = start_of(day(2))


def _patient(zone: str = "UTC") -> Patient:
    return new_patient(zone=zone, doses=False, actor=ADMIN)


def _open(patient: Patient, at: dt.datetime = AT) -> dict[str, dt.datetime]:
    found = patient_reminders(
        list(patient.pending_events), at=at, cycle_length_days=21, eye_terms=frozenset()
    )
    return {r.kind: r.due_at for r in found}


def test_ids_are_deterministic_per_cause_and_kind() -> None:
    ident = uuid4()
    assert reminder_id(ident, 3, "dlt_window_end") == reminder_id(ident, 3, "dlt_window_end")
    others = {reminder_id(ident, 3, kind) for kind in KINDS} | {reminder_id(ident, 4, KINDS[0])}
    assert len(others) == len(KINDS) + 1
    assert reminder_id(ident, 3, KINDS[2], "cycle-1") != reminder_id(ident, 3, KINDS[2], "cycle-2")


def test_clinical_dates_are_midnight_utc_and_windows_fall_due_the_day_after() -> None:
    assert start_of(dt.date(2026, 3, 2)) == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert after(dt.date(2026, 3, 31)) == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_eye_disorders_include_blurred_vision_not_rash() -> None:
    terms = eye_disorder_terms(CtcaeCatalogue.load())
    assert {"Blurred vision", "Keratitis", "Conjunctivitis"} <= terms
    assert "Rash acneiform" not in terms


def test_patient_story_opens_and_clears_reminders() -> None:
    patient = _patient()
    assert set(_open(patient)) == {"ophthalmology_baseline"}
    patient.record_baseline_eye_exam(day(0), "20/20", "20/20", INVESTIGATOR, today=TODAY)
    assert _open(patient) == {}
    patient.record_baseline_skin_exam(day(0), "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(day(1), INVESTIGATOR, today=TODAY)
    assert _open(patient) == {
        "dlt_window_end": start_of(day(29)),
        "ophthalmology_follow_up": start_of(day(22)),  # 21-day cycles
    }
    assert _open(patient, start_of(day(50)))["ophthalmology_follow_up"] == start_of(day(43))
    patient.close_dlt_window(
        "no_dlt",
        day(28),
        INVESTIGATOR,
        min_dose_fraction=0.75,
        doses_taken_fraction=1.0,
        today=TODAY,
        schedule=SCHEDULE,
    )
    assert set(_open(patient)) == {"ophthalmology_follow_up"}


def test_withdrawal_before_the_baseline_exam_clears_it() -> None:
    patient = _patient()
    patient.close_dlt_window(
        "not_evaluable",
        day(0),
        INVESTIGATOR,
        min_dose_fraction=0.75,
        today=TODAY,
        schedule=SCHEDULE,
    )
    assert _open(patient) == {}


def test_src_decision_due_once_the_cohort_is_fully_evaluated_until_signed() -> None:
    trial = new_trial(3)
    run_cohort(trial, "NN")
    assert trial_reminders(list(trial.pending_events)) == []
    run_cohort(trial, "N")
    (due,) = trial_reminders(list(trial.pending_events))
    last = trial.pending_events[-1]
    assert (due.kind, due.trial_id, due.patient_id) == ("src_decision_due", trial.id, None)
    assert due.id == reminder_id(trial.id, last.originator_version, "src_decision_due")
    assert due.due_at == last.timestamp
    trial.sign_decision(1, "escalate", SRC, meaning="approval")
    assert trial_reminders(list(trial.pending_events)) == []


def _on_treatment() -> Patient:
    patient = _patient()
    patient.record_baseline_eye_exam(day(0), "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(day(0), "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(day(1), INVESTIGATOR, today=TODAY)
    return patient


def test_a_follow_up_eye_exam_on_day_1_does_not_count_for_cycle_1() -> None:
    patient = _on_treatment()
    patient.record_eye_exam(day(1), "follow_up", "20/20", "20/20", INVESTIGATOR, today=TODAY)
    assert _open(patient, start_of(day(23)))["ophthalmology_follow_up"] == start_of(day(22))


def test_a_follow_up_eye_exam_counts_within_7_days_either_side_of_the_cycles_end() -> None:
    early = _on_treatment()  # 21-day cycles: cycle 1 ends on day 21
    # 8 days before
    early.record_eye_exam(day(13), "follow_up", "20/20", "20/20", INVESTIGATOR, today=TODAY)
    assert _open(early, start_of(day(23)))["ophthalmology_follow_up"] == start_of(day(22))
    in_time = _on_treatment()
    # 7 days before
    in_time.record_eye_exam(day(14), "follow_up", "20/20", "20/20", INVESTIGATOR, today=TODAY)
    assert _open(in_time, start_of(day(23)))["ophthalmology_follow_up"] == start_of(day(43))
    late = _on_treatment()
    # 7 days after
    late.record_eye_exam(day(28), "follow_up", "20/20", "20/20", INVESTIGATOR, today=TODAY)
    assert _open(late, start_of(day(23)))["ophthalmology_follow_up"] == start_of(day(43))


def test_due_times_are_the_start_of_the_site_day_in_its_zone() -> None:
    zone = "America/Los_Angeles"
    patient = _patient(zone)
    patient.record_baseline_eye_exam(day(0), "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(day(0), "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(day(1), INVESTIGATOR, today=TODAY)
    due = _open(patient, start_of(day(2), zone))
    assert due["dlt_window_end"] == start_of(day(29), zone)
    assert due["dlt_window_end"] == dt.datetime(2026, 3, 30, 7, tzinfo=dt.UTC)  # PDT
    assert due["ophthalmology_follow_up"] == dt.datetime(2026, 3, 23, 7, tzinfo=dt.UTC)
