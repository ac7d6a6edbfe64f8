"""Patient safety, story 5: evaluability from the record, not from the caller (domain.md §6).

The share of planned doses is the schedule's dosing days in the window (days 1-21 of the
avutometinib 3-weeks-on/1-off cycle: 21), less the days withheld and the doses recorded as
missed; a claimed fraction that disagrees is refused. On the old code (0183fb4) the caller's
fraction was taken as given: a patient withheld for most of the window was recorded evaluable
with doses_taken_fraction=1.0.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.errors import CommandRefused
from domain.patient import Patient
from domain.protocol import template
from support import INVESTIGATOR, day, dosing

AVUTOMETINIB = template("defactinib-avutometinib")
PLANNED = 21


def refused(ledger: DoseLedger, rule: str, command: Any, *args: Any, **kw: Any) -> None:
    """The command is refused with ``rule`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)
    assert caught.value.rule == rule
    assert ledger.recorder.max_notification_id() == before


def closed_fraction(ledger: DoseLedger, pid: UUID) -> float | None:
    (closed,) = [e for e in ledger.events.get(pid) if isinstance(e, Patient.DLTWindowClosed)]
    return closed.doses_taken_fraction


def test_a_patient_withheld_from_day_2_to_day_28_is_not_evaluable(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.record_dose_action(pid, "hold", day(2), INVESTIGATOR, reason="elective surgery")
    ledger.record_dose_action(pid, "resume", day(28), INVESTIGATOR)
    for claim in (1.0, 0.8):
        refused(
            ledger,
            "dose_fraction_disagrees",
            ledger.record_dlt_window_outcome,
            pid,
            "no_dlt",
            day(28),
            INVESTIGATOR,
            doses_taken_fraction=claim,
        )
    refused(
        ledger,
        "not_evaluable_dose_fraction",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
    )
    # Even the true share (1 of 21) is under the 75 % needed.
    refused(
        ledger,
        "not_evaluable_dose_fraction",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
        doses_taken_fraction=1 / PLANNED,
    )
    assert ledger.patient(pid)["dlt_outcome"] is None
    assert ledger.trial(trial_id)["cohorts"][0]["evaluable"] == 0
    ledger.record_dlt_window_outcome(
        pid, "not_evaluable", day(28), INVESTIGATOR, reason="withheld most of the window"
    )
    cohort = ledger.trial(trial_id)["cohorts"][0]
    assert (cohort["evaluable"], cohort["not_evaluable"]) == (0, 1)


def test_missed_doses_count_and_a_correct_claim_is_accepted(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    for missed in (5, 6, 7):
        ledger.record_missed_dose(pid, day(missed), INVESTIGATOR, reason="vomited")
    ledger.record_missed_dose(pid, day(25), INVESTIGATOR, reason="off week: plans none")
    assert ledger.patient(pid)["missed_doses"] == [day(n).isoformat() for n in (5, 6, 7, 25)]
    refused(
        ledger,
        "dose_fraction_disagrees",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
        doses_taken_fraction=1.0,
    )
    ledger.record_dlt_window_outcome(
        pid, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=18 / PLANNED
    )
    assert ledger.patient(pid)["dlt_outcome"] == "no_dlt"
    assert closed_fraction(ledger, pid) == round(18 / PLANNED, 4)
    assert ledger.trial(trial_id)["cohorts"][0]["evaluable"] == 1


def test_missed_and_withheld_doses_add_up_below_the_threshold(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.record_dose_action(pid, "hold", day(10), INVESTIGATOR, reason="infection")
    ledger.record_dose_action(pid, "resume", day(13), INVESTIGATOR)  # days 10-12 withheld
    for missed in (15, 16):
        ledger.record_missed_dose(pid, day(missed), INVESTIGATOR)
    # 21 - 3 - 2 = 16 of 21 (76 %): evaluable, just.
    refused(
        ledger,
        "dose_fraction_disagrees",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
        doses_taken_fraction=18 / PLANNED,
    )
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert closed_fraction(ledger, pid) == round(16 / PLANNED, 4)


def test_one_more_missed_dose_makes_the_patient_not_evaluable(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    for missed in range(2, 8):  # 6 missed: 15 of 21 (71 %)
        ledger.record_missed_dose(pid, day(missed), INVESTIGATOR)
    refused(
        ledger,
        "not_evaluable_dose_fraction",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
    )
    # A missed dose entered in error no longer counts: 16 of 21.
    ledger.mark_in_error(pid, "missed_dose", day(7).isoformat(), INVESTIGATOR, reason="was taken")
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert ledger.patient(pid)["dlt_outcome"] == "no_dlt"
