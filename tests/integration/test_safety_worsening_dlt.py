"""Patient safety, story 1: a worsening to a DLT grade inside the window is a DLT (§6).

On the old code (0183fb4) a grade change or a skin assessment never re-assessed the DLT verdict:
the cohort kept 0 DLTs, a later "no DLT" was accepted, and nothing was revised or flagged.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.ae_report import SkinAssessment
from domain.errors import CommandRefused
from domain.protocol import template
from domain.trial import Trial
from support import INVESTIGATOR, SRC, ae, day, dosing, protocol_with

AVUTOMETINIB = template("defactinib-avutometinib")


def refused(ledger: DoseLedger, rule: str, command: object, *args: object, **kw: object) -> None:
    """The command is refused with ``rule`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)  # type: ignore[operator]
    assert caught.value.rule == rule
    assert ledger.recorder.max_notification_id() == before


def test_cpk_grade_2_worsening_to_grade_4_in_the_window_is_a_dlt_on_the_cohort(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    recorded = ae(ledger, pid, "CPK increased", 2, 5)
    assert recorded["dlt"]["verdict"] == "not_dlt"
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0
    ae_id = UUID(recorded["ae_id"])

    rec = ledger.change_ae_grade(pid, ae_id, 4, day(10), INVESTIGATOR, reason="visit labs")

    assert rec is not None and (rec["action"], rec["resume"]) == ("withhold", "reduced")
    assert ledger.patient(pid)["dlt_outcome"] == "dlt"
    cohort = ledger.trial(trial_id)["cohorts"][0]
    assert cohort["dlts"] == 1
    observed = [e for e in ledger.events.get(trial_id) if isinstance(e, Trial.DLTObserved)]
    assert [(e.patient_id, e.clinical_date) for e in observed] == [(pid, day(10))]
    assert "CPK increased, grade 4" in observed[0].description
    # The window closed with the DLT: a later "no DLT" is refused and records nothing.
    refused(
        ledger,
        "outcome_already_recorded",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
    )
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1


def test_rash_worsening_through_skin_assessments_is_a_dlt_on_the_cohort(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    mild = ledger.record_skin_assessment(
        pid, SkinAssessment(day(5), "face", 8, "mild"), INVESTIGATOR
    )
    assert mild["grade"] == 1
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0

    severe = ledger.record_skin_assessment(
        pid, SkinAssessment(day(12), "face, chest and back", 40, "severe"), INVESTIGATOR
    )

    assert severe["grade"] == 3
    assert severe["recommendation"]["action"] == "withhold"
    patient = ledger.patient(pid)
    assert patient["dlt_outcome"] == "dlt"
    assert [a["worst_grade"] for a in patient["adverse_events"]] == [3]
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    refused(
        ledger,
        "outcome_already_recorded",
        ledger.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
    )


def test_worsening_outside_the_window_is_not_a_dlt(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = UUID(ae(ledger, pid, "CPK increased", 2, 20)["ae_id"])
    ledger.change_ae_grade(pid, ae_id, 4, day(29), INVESTIGATOR)  # day 29: after the window
    assert ledger.patient(pid)["dlt_outcome"] is None
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0


def test_worsening_dated_in_the_window_entered_after_no_dlt_revises_the_outcome(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ae_id = UUID(ae(ledger, pid, "CPK increased", 2, 5)["ae_id"])
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 0

    ledger.change_ae_grade(pid, ae_id, 4, day(10), INVESTIGATOR, reason="late lab report")

    assert ledger.patient(pid)["dlt_outcome"] == "dlt"
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    revised = [e for e in ledger.events.get(trial_id) if isinstance(e, Trial.OutcomeRevised)]
    assert [(e.old_outcome, e.new_outcome, e.clinical_date) for e in revised] == [
        ("no_dlt", "dlt", day(10))
    ]
    # No SRC decision yet on the cohort: nothing to flag.
    assert not any(
        isinstance(e, Trial.DecisionFlaggedForReview) for e in ledger.events.get(trial_id)
    )


def test_late_worsening_in_a_cohort_the_src_decided_flags_the_decision_for_review(
    ledger: DoseLedger,
) -> None:
    trial_id, pids = dosing(ledger, AVUTOMETINIB, count=3)
    ae_id = UUID(ae(ledger, pids[0], "CPK increased", 2, 5)["ae_id"])
    for pid in pids:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    assert ledger.trial(trial_id)["recommendation"]["action"] == "escalate"
    ledger.sign_decision(trial_id, 1, "escalate", SRC)

    ledger.change_ae_grade(pids[0], ae_id, 4, day(10), INVESTIGATOR, reason="late lab report")

    assert ledger.patient(pids[0])["dlt_outcome"] == "dlt"
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    flagged = [
        e for e in ledger.events.get(trial_id) if isinstance(e, Trial.DecisionFlaggedForReview)
    ]
    assert [(e.cohort, e.old_dlts, e.new_dlts) for e in flagged] == [(1, 0, 1)]


def test_a_candidate_dated_in_the_window_entered_after_no_dlt_goes_before_the_src(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, AVUTOMETINIB)
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)

    recorded = ae(ledger, pid, "Diarrhea", 3, 20)  # G3 diarrhoea: a candidate for the SRC

    assert recorded["dlt"]["verdict"] == "candidate"
    ae_id = UUID(recorded["ae_id"])
    assert ledger.patient(pid)["dlt_outcome"] is None  # awaited again
    cohort = ledger.trial_aggregate(trial_id).cohorts[0]
    assert cohort.candidates == {pid: [ae_id]}
    assert pid not in cohort.outcomes
    ledger.adjudicate_dlt(trial_id, pid, ae_id, True, SRC, reason="not controlled in 72 h")
    assert ledger.patient(pid)["dlt_outcome"] == "dlt"
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1


def test_a_candidate_confirmed_on_a_decided_cohort_flags_the_decision(
    ledger: DoseLedger,
) -> None:
    trial_id, pids = dosing(ledger, AVUTOMETINIB, count=3)
    for pid in pids:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    ledger.sign_decision(trial_id, 1, "escalate", SRC)
    ae_id = UUID(ae(ledger, pids[0], "Diarrhea", 3, 20)["ae_id"])
    ledger.adjudicate_dlt(trial_id, pids[0], ae_id, True, SRC, reason="not controlled in 72 h")
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    flagged = [
        e for e in ledger.events.get(trial_id) if isinstance(e, Trial.DecisionFlaggedForReview)
    ]
    assert [(e.cohort, e.old_dlts, e.new_dlts) for e in flagged] == [(1, 0, 1)]


def test_a_late_dlt_after_the_mtd_was_declared_changes_its_cohort_and_flags_the_decision(
    ledger: DoseLedger,
) -> None:
    trial_id, pids = dosing(ledger, protocol_with(1, deescalate=True), count=3)
    fatigue = UUID(ae(ledger, pids[0], "Fatigue", 2, 10)["ae_id"])
    for pid in pids:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    ledger.sign_decision(trial_id, 1, "declare_mtd", SRC, mtd_level=1)
    assert ledger.trial(trial_id)["status"] == "mtd_declared"
    # Entered late: the fatigue had reached grade 3 on day 20, inside the window.
    ledger.change_ae_grade(pids[0], fatigue, 3, day(20), INVESTIGATOR, reason="late entry")
    assert ledger.patient(pids[0])["dlt_outcome"] == "dlt"
    trial = ledger.trial(trial_id)
    assert trial["cohorts"][0]["dlts"] == 1 and trial["flagged_for_review"] == [1]
