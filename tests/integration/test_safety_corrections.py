"""Patient safety, story 6: corrections and entries in error (domain.md §8, Corrections).

A corrected fact keeps its history; everything derived follows the corrected facts: the AE's
requirement, its DLT on the cohort, and an SRC decision on a cohort whose DLT count changed
is flagged for re-review. On the old code (0183fb4) a recorded AE could not be corrected or
marked entered in error at all: its DLT and its withhold stood.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.errors import CommandRefused
from domain.protocol import template
from domain.trial import Trial
from support import INVESTIGATOR, SRC, ae, audit_rows, day, dosing

AVUTOMETINIB = template("defactinib-avutometinib")


def refused(ledger: DoseLedger, rule: str, command: Any, *args: Any, **kw: Any) -> None:
    """The command is refused with ``rule`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)
    assert caught.value.rule == rule
    assert ledger.recorder.max_notification_id() == before


def trial_events(ledger: DoseLedger, trial_id: UUID, kind: type[Any]) -> list[Any]:
    return [e for e in ledger.events.get(trial_id) if isinstance(e, kind)]


def cpk_grade_3_dlt(ledger: DoseLedger, trial_id: UUID, pid: UUID) -> UUID:
    """A CPK grade 3 on day 5: a DLT on the cohort and a withhold requirement."""
    recorded = ae(ledger, pid, "CPK increased", 3, 5)
    assert recorded["dlt"]["verdict"] == "dlt"
    ae_id = UUID(recorded["ae_id"])
    patient = ledger.patient(pid)
    assert patient["dlt_outcome"] == "dlt"
    assert [(r["ae_id"], r["action"]) for r in patient["requirements"]] == [
        (str(ae_id), "withhold")
    ]
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    return ae_id


def test_correcting_a_grade_3_to_grade_2_withdraws_its_dlt_and_its_withhold(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = cpk_grade_3_dlt(ledger, trial_id, pid)
    refused(
        ledger,
        "reason_required",
        ledger.correct_adverse_event,
        pid,
        ae_id,
        INVESTIGATOR,
        grade=2,
        reason="  ",
    )

    result = ledger.correct_adverse_event(
        pid, ae_id, INVESTIGATOR, grade=2, reason="CPK was 4.5 x ULN: transcription error"
    )

    assert result["recommendation"]["action"] == "continue"
    patient = ledger.patient(pid)
    assert patient["requirements"] == []
    assert patient["dlt_outcome"] is None
    assert patient["dosing"] == "on treatment"
    assert [(a["grade"], a["worst_grade"]) for a in patient["adverse_events"]] == [(2, 2)]
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0
    revised = trial_events(ledger, trial_id, Trial.OutcomeRevised)
    assert [(e.patient_id, e.old_outcome, e.new_outcome) for e in revised] == [(pid, "dlt", None)]
    assert "transcription error" in revised[0].reason
    assert not trial_events(ledger, trial_id, Trial.DecisionFlaggedForReview)
    rows = [r for r in audit_rows(ledger, trial_id) if r["event"] == "FactCorrected"]
    assert len(rows) == 1
    assert rows[0]["reason"] == "CPK was 4.5 x ULN: transcription error"
    assert (rows[0]["aggregate_id"], rows[0]["user_id"]) == (str(pid), INVESTIGATOR.user_id)
    # The original grade stays in the history.
    assert [r["event"] for r in audit_rows(ledger, trial_id)].count("AERecorded") == 1
    # With the DLT withdrawn, the window can close without one.
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert ledger.trial(trial_id)["cohorts"][0]["evaluable"] == 1


def test_an_ae_entered_in_error_withdraws_its_dlt_and_its_withhold(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = cpk_grade_3_dlt(ledger, trial_id, pid)
    ledger.record_dose_action(pid, "hold", day(5), INVESTIGATOR, ae_id=ae_id)
    refused(
        ledger,
        "reason_required",
        ledger.mark_in_error,
        pid,
        "adverse_event",
        str(ae_id),
        INVESTIGATOR,
        reason="",
    )

    result = ledger.mark_in_error(
        pid, "adverse_event", str(ae_id), INVESTIGATOR, reason="result of another patient"
    )

    # Nothing else holds dosing: the investigator may resume.
    assert result["recommendation"]["action"] == "resume"
    patient = ledger.patient(pid)
    assert patient["requirements"] == []
    assert patient["dlt_outcome"] is None
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0
    revised = trial_events(ledger, trial_id, Trial.OutcomeRevised)
    assert [(e.old_outcome, e.new_outcome) for e in revised] == [("dlt", None)]
    rows = [r for r in audit_rows(ledger, trial_id) if r["event"] == "FactEnteredInError"]
    assert [r["reason"] for r in rows] == ["result of another patient"]
    refused(ledger, "ae_not_found", ledger.change_ae_grade, pid, ae_id, 1, day(8), INVESTIGATOR)
    ledger.record_dose_action(pid, "resume", day(8), INVESTIGATOR)


def test_a_correction_that_changes_a_decided_cohorts_dlts_flags_the_decision(
    ledger: DoseLedger,
) -> None:
    trial_id, pids = dosing(ledger, AVUTOMETINIB, count=3)
    ae_id = cpk_grade_3_dlt(ledger, trial_id, pids[0])
    for pid in pids[1:]:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert ledger.trial(trial_id)["recommendation"]["action"] == "expand"
    ledger.sign_decision(trial_id, 1, "expand", SRC)

    ledger.correct_adverse_event(
        pids[0], ae_id, INVESTIGATOR, grade=2, reason="CPK was 4.5 x ULN: transcription error"
    )

    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0
    flagged = trial_events(ledger, trial_id, Trial.DecisionFlaggedForReview)
    assert [(e.cohort, e.old_dlts, e.new_dlts) for e in flagged] == [(1, 1, 0)]
    assert "transcription error" in flagged[0].reason
    assert [r["event"] for r in audit_rows(ledger, trial_id)].count("DecisionFlaggedForReview") == 1


def test_a_correction_that_makes_an_ae_a_dlt_reaches_a_decided_cohort(
    ledger: DoseLedger,
) -> None:
    trial_id, pids = dosing(ledger, AVUTOMETINIB, count=3)
    ae_id = UUID(ae(ledger, pids[0], "CPK increased", 2, 5)["ae_id"])
    for pid in pids:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    ledger.sign_decision(trial_id, 1, "escalate", SRC)

    ledger.correct_adverse_event(
        pids[0], ae_id, INVESTIGATOR, grade=4, reason="CPK was 12 x ULN: transcription error"
    )

    assert ledger.patient(pids[0])["dlt_outcome"] == "dlt"
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    flagged = trial_events(ledger, trial_id, Trial.DecisionFlaggedForReview)
    assert [(e.cohort, e.old_dlts, e.new_dlts) for e in flagged] == [(1, 0, 1)]


def test_the_audit_row_of_a_correction_shows_the_old_and_new_value(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = UUID(ae(ledger, pid, "CPK increased", 3, 5)["ae_id"])
    ledger.correct_adverse_event(pid, ae_id, INVESTIGATOR, grade=2, reason="transcription error")
    (row,) = [r for r in audit_rows(ledger, trial_id) if r["event"] == "FactCorrected"]
    assert row["change"] is not None and "3" in row["change"] and "2" in row["change"]


def test_the_sdtm_ae_dataset_follows_corrections_and_entries_in_error(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    cpk = UUID(ae(ledger, pid, "CPK increased", 3, 5, attribution="unrelated")["ae_id"])
    fatigue = UUID(ae(ledger, pid, "Fatigue", 1, 6)["ae_id"])
    ledger.correct_adverse_event(
        pid, cpk, INVESTIGATOR, grade=2, serious=True, reason="lab value re-read"
    )
    ledger.mark_in_error(pid, "adverse_event", str(fatigue), INVESTIGATOR, reason="other patient")
    rows = list(csv.DictReader(io.StringIO(ledger.sdtm(trial_id, "AE"))))
    assert [(r["AESPID"], r["AETOXGR"], r["AESER"]) for r in rows] == [(str(cpk), "2", "Y")]
