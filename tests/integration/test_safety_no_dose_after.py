"""Patient safety, story 3: no dose inside a hold (past or open), after a discontinuation,
after death or after the patient left the study (domain.md §5a).

On the old code (0183fb4) a dose was checked only against the open hold and a discontinuation:
a dose after a grade 5 AE, for a withdrawn patient, or dated inside a hold already resumed was
recorded, and a dose could not be recorded as a deviation at all.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.errors import CommandRefused
from domain.protocol import template
from support import INVESTIGATOR, ae, day, dosing

AVUTOMETINIB = template("defactinib-avutometinib")


def refused(ledger: DoseLedger, rule: str, command: Any, *args: Any, **kw: Any) -> None:
    """The command is refused with ``rule`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)
    assert caught.value.rule == rule
    assert ledger.recorder.max_notification_id() == before


def dose_refused(ledger: DoseLedger, pid: UUID, on: int, rule: str) -> None:
    """Refused as an ordinary dose and as a deviation with a reason alike."""
    refused(ledger, rule, ledger.administer_dose, pid, day(on), INVESTIGATOR)
    refused(
        ledger,
        rule,
        ledger.administer_dose,
        pid,
        day(on),
        INVESTIGATOR,
        deviation_reason="patient took it at home",
    )


def test_no_dose_after_a_recorded_discontinuation(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.administer_dose(pid, day(20), INVESTIGATOR)
    # Not dated before a dose already recorded: that dose would lie after it.
    refused(
        ledger,
        "date_before_last_dose",
        ledger.record_dose_action,
        pid,
        "discontinue",
        day(15),
        INVESTIGATOR,
        reason="progressive disease",
    )
    state = ledger.record_dose_action(
        pid, "discontinue", day(21), INVESTIGATOR, reason="progressive disease"
    )
    assert state["dosing"] == "discontinued"
    assert state["discontinued_agents"] == ["avutometinib", "defactinib"]
    dose_refused(ledger, pid, 22, "treatment_discontinued")
    refused(
        ledger,
        "treatment_discontinued",
        ledger.record_dose_action,
        pid,
        "discontinue",
        day(23),
        INVESTIGATOR,
        reason="again",
    )
    assert ledger.patient(pid)["doses_recorded"] == 2


def test_no_dose_after_a_grade_5_adverse_event(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    recorded = ae(ledger, pid, "Diarrhea", 5, 20)
    assert recorded["dlt"]["verdict"] == "dlt"
    patient = ledger.patient(pid)
    assert (patient["died_on"], patient["status"], patient["dosing"]) == (
        day(20).isoformat(),
        "died",
        "discontinued",
    )
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    dose_refused(ledger, pid, 21, "patient_died")
    ledger.administer_dose(pid, day(19), INVESTIGATOR, deviation_reason="given before death")


def test_death_is_the_day_an_ae_worsened_to_grade_5(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = UUID(ae(ledger, pid, "Diarrhea", 2, 10)["ae_id"])
    ledger.administer_dose(pid, day(15), INVESTIGATOR)
    ledger.change_ae_grade(pid, ae_id, 5, day(20), INVESTIGATOR)
    patient = ledger.patient(pid)
    assert patient["died_on"] == day(20).isoformat()  # not the AE's onset (day 10)
    assert patient["status"] == "died"
    dose_refused(ledger, pid, 21, "patient_died")


def test_no_dose_for_a_patient_who_left_the_study(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.record_dlt_window_outcome(
        pid, "not_evaluable", day(10), INVESTIGATOR, reason="withdrew consent"
    )
    assert ledger.patient(pid)["status"] == "not evaluable (replaced)"
    dose_refused(ledger, pid, 11, "patient_withdrawn")
    dose_refused(ledger, pid, 9, "patient_withdrawn")


def test_no_dose_dated_inside_a_past_hold(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.record_dose_action(pid, "hold", day(10), INVESTIGATOR, reason="surgery")
    dose_refused(ledger, pid, 12, "dose_withheld")  # the open hold
    ledger.record_dose_action(pid, "resume", day(15), INVESTIGATOR, reason="recovered")
    assert ledger.patient(pid)["holds"] == [
        {"start": day(10).isoformat(), "end": day(15).isoformat()}
    ]
    for inside in (10, 12, 14):
        dose_refused(ledger, pid, inside, "dose_withheld")
    ledger.administer_dose(pid, day(16), INVESTIGATOR)
    ledger.administer_dose(pid, day(15), INVESTIGATOR)  # the resume day is a dosing day
    ledger.administer_dose(pid, day(9), INVESTIGATOR)  # entered late, before the hold
    assert ledger.patient(pid)["doses_recorded"] == 4
    # A dose's date cannot be corrected into the hold either.
    refused(
        ledger,
        "dose_withheld",
        ledger.correct_dose_date,
        pid,
        day(16),
        day(13),
        INVESTIGATOR,
        reason="wrong day typed",
    )
