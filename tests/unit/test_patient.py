"""The Patient aggregate: baseline eye exam before dosing, DLT-window outcome guards."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import CommandRefused, InvalidInput
from domain.patient import Patient
from domain.protocol import template
from support import DAY0, INVESTIGATOR, SCHEDULE, TODAY, new_patient, replay


def dosing_patient() -> Patient:
    patient = new_patient()
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/25", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(
        DAY0, "no pre-existing dermatologic condition", INVESTIGATOR, today=TODAY
    )
    patient.start_dosing(DAY0 + dt.timedelta(days=1), INVESTIGATOR, today=TODAY)
    return patient


def test_dosing_is_refused_without_a_baseline_eye_exam() -> None:
    patient = new_patient()
    with pytest.raises(CommandRefused, match="no baseline eye exam") as caught:
        patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    assert caught.value.rule == "baseline_eye_exam_required"
    assert len(patient.pending_events) == 1


def test_dosing_is_refused_without_a_baseline_skin_exam() -> None:
    patient = new_patient()
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/20", INVESTIGATOR, today=TODAY)
    with pytest.raises(CommandRefused, match="no baseline skin exam") as caught:
        patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    assert caught.value.rule == "baseline_skin_exam_required"
    with pytest.raises(CommandRefused, match="findings"):
        patient.record_baseline_skin_exam(DAY0, "  ", INVESTIGATOR, today=TODAY)
    assert len(patient.pending_events) == 2


def test_baseline_exam_then_dosing_opens_the_dlt_window() -> None:
    patient = dosing_patient()
    assert patient.first_dose_date == DAY0 + dt.timedelta(days=1)
    assert patient.dlt_window_last_day == DAY0 + dt.timedelta(days=28)
    assert patient.baseline_eye_exam is not None
    assert patient.baseline_eye_exam["bcva_left_logmar"] == pytest.approx(0.1, abs=0.01)
    assert patient.status == "in DLT window"
    assert replay(patient).baseline_eye_exam == patient.baseline_eye_exam


def test_malformed_bcva_is_refused() -> None:
    with pytest.raises(InvalidInput, match="20/0"):
        new_patient().record_baseline_eye_exam(DAY0, "20/0", "20/20", INVESTIGATOR, today=TODAY)


def test_no_dlt_needs_the_whole_window_and_enough_doses() -> None:
    patient = dosing_patient()
    last = patient.dlt_window_last_day
    assert last is not None
    with pytest.raises(CommandRefused) as early:
        patient.close_dlt_window(
            "no_dlt",
            last - dt.timedelta(days=1),
            INVESTIGATOR,
            min_dose_fraction=0.75,
            doses_taken_fraction=1.0,
            today=TODAY,
            schedule=SCHEDULE,
        )
    assert early.value.rule == "window_not_completed"
    first = patient.first_dose_date
    assert first is not None
    for offset in range(2, 8):  # six of the 21 planned dosing days missed: 15/21 = 71 %
        patient.record_missed_dose(first + dt.timedelta(days=offset), INVESTIGATOR, today=TODAY)
    with pytest.raises(CommandRefused) as few:
        patient.close_dlt_window(
            "no_dlt", last, INVESTIGATOR, min_dose_fraction=0.75, today=TODAY, schedule=SCHEDULE
        )
    assert few.value.rule == "not_evaluable_dose_fraction"
    with pytest.raises(CommandRefused) as claimed:
        patient.close_dlt_window(
            "no_dlt",
            last,
            INVESTIGATOR,
            min_dose_fraction=0.75,
            doses_taken_fraction=1.0,
            today=TODAY,
            schedule=SCHEDULE,
        )
    assert claimed.value.rule == "dose_fraction_disagrees"
    assert "15 of 21" in claimed.value.message
    patient.mark_in_error(
        "missed_dose",
        (first + dt.timedelta(days=2)).isoformat(),
        INVESTIGATOR,
        reason="the dose was taken; diary misread",
        protocol=template("defactinib-avutometinib"),
    )
    recorded = patient.close_dlt_window(
        "no_dlt",
        last,
        INVESTIGATOR,
        min_dose_fraction=0.75,
        doses_taken_fraction=16 / 21,
        today=TODAY,
        schedule=SCHEDULE,
    )
    assert recorded == round(16 / 21, 4)
    assert patient.dlt_outcome == "no_dlt"


@pytest.mark.parametrize(
    ("outcome", "offset", "rule"),
    [("dlt", 29, "dlt_outside_window"), ("dlt", -1, "date_before_first_dose")],
)
def test_dlt_dates_must_fall_in_the_window(outcome: str, offset: int, rule: str) -> None:
    patient = dosing_patient()
    with pytest.raises(CommandRefused) as caught:
        patient.close_dlt_window(
            outcome,
            DAY0 + dt.timedelta(days=offset),
            INVESTIGATOR,
            min_dose_fraction=0.75,
            description="G3 rash",
            today=TODAY,
            schedule=SCHEDULE,
        )
    assert caught.value.rule == rule


def test_only_not_evaluable_before_dosing_and_then_no_dosing() -> None:
    patient = new_patient()
    with pytest.raises(CommandRefused) as caught:
        patient.close_dlt_window(
            "dlt",
            DAY0,
            INVESTIGATOR,
            min_dose_fraction=0.75,
            description="x",
            today=TODAY,
            schedule=SCHEDULE,
        )
    assert caught.value.rule == "dosing_not_started"
    patient.close_dlt_window(
        "not_evaluable",
        DAY0,
        INVESTIGATOR,
        min_dose_fraction=0.75,
        reason="withdrew consent",
        today=TODAY,
        schedule=SCHEDULE,
    )
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(DAY0, "none", INVESTIGATOR, today=TODAY)
    with pytest.raises(CommandRefused) as withdrawn:
        patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    assert withdrawn.value.rule == "patient_withdrawn"


def test_outcome_is_recorded_once_and_fraction_must_be_a_fraction() -> None:
    patient = dosing_patient()
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        patient.close_dlt_window(
            "no_dlt",
            DAY0,
            INVESTIGATOR,
            min_dose_fraction=0.75,
            doses_taken_fraction=1.5,
            today=TODAY,
            schedule=SCHEDULE,
        )
    with pytest.raises(InvalidInput, match="unknown DLT-window outcome"):
        patient.close_dlt_window(
            "maybe", DAY0, INVESTIGATOR, min_dose_fraction=0.75, today=TODAY, schedule=SCHEDULE
        )
    patient.close_dlt_window(
        "dlt",
        DAY0 + dt.timedelta(days=3),
        INVESTIGATOR,
        min_dose_fraction=0.75,
        description="G4 CPK increased",
        today=TODAY,
        schedule=SCHEDULE,
    )
    with pytest.raises(CommandRefused) as again:
        patient.close_dlt_window(
            "dlt",
            DAY0 + dt.timedelta(days=4),
            INVESTIGATOR,
            min_dose_fraction=0.75,
            description="again",
            today=TODAY,
            schedule=SCHEDULE,
        )
    assert again.value.rule == "outcome_already_recorded"


def test_dosing_twice_and_baseline_after_dosing_are_refused() -> None:
    patient = dosing_patient()
    events = len(patient.pending_events)
    with pytest.raises(CommandRefused, match="already started"):
        patient.start_dosing(DAY0 + dt.timedelta(days=2), INVESTIGATOR, today=TODAY)
    with pytest.raises(CommandRefused, match="comes before it"):
        patient.record_baseline_eye_exam(DAY0, "20/20", "20/20", INVESTIGATOR, today=TODAY)
    with pytest.raises(CommandRefused, match="comes before it"):
        patient.record_baseline_skin_exam(DAY0, "none", INVESTIGATOR, today=TODAY)
    assert len(patient.pending_events) == events


def test_first_dose_before_the_baseline_exam_is_refused() -> None:
    patient = new_patient()
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(
        DAY0 - dt.timedelta(days=3), "none", INVESTIGATOR, today=TODAY
    )
    with pytest.raises(CommandRefused, match="before the baseline eye exam"):
        patient.start_dosing(DAY0 - dt.timedelta(days=1), INVESTIGATOR, today=TODAY)
