"""DLT policy through the application: AEs in the window, candidates, adjudication, replacement."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.ae_report import SkinAssessment
from domain.errors import CommandRefused
from domain.protocol import template
from support import ADMIN, DAY0, INVESTIGATOR, SRC, ae, day, dosing

AVU = "defactinib-avutometinib"


def complete(ledger: DoseLedger, pid: UUID) -> None:
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1.0)


def test_in_window_grade_3_non_haematological_ae_is_a_dlt_for_the_cohort(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, template(AVU))
    before = ledger.recorder.max_notification_id() or 0
    recorded = ae(ledger, pid, "Alanine aminotransferase increased", 3, 12)
    assert recorded["dlt"]["verdict"] == "dlt"
    trial = ledger.trial(trial_id)
    assert trial["cohorts"][0]["dlts"] == 1
    assert ledger.patient(pid)["dlt_outcome"] == "dlt"
    # The patient's AE, its recommendation, its DLT closure and the cohort's DLT: one save.
    new = ledger.recorder.select_notifications(before + 1, 10)
    assert {n.topic for n in new} >= {
        "doseledger:patient.AERecorded",
        "doseledger:patient.DLTWindowClosed",
        "doseledger:trial.DLTObserved",
    }


@pytest.mark.parametrize(
    ("term", "grade", "onset", "attribution", "verdict"),
    [
        ("Alanine aminotransferase increased", 3, 29, "possible", "not_dlt"),  # after day 28
        ("Alanine aminotransferase increased", 3, 12, "unlikely", "not_dlt"),
        ("Fatigue", 2, 12, "definite", "not_dlt"),
        ("Febrile neutropenia", 3, 5, "probable", "dlt"),
        ("Platelet count decreased", 4, 5, "possible", "dlt"),
        ("Platelet count decreased", 3, 5, "possible", "not_dlt"),
        ("Anemia", 3, 5, "possible", "not_dlt"),
        ("Nausea", 3, 5, "possible", "candidate"),
        ("Neutrophil count decreased", 4, 5, "possible", "candidate"),
    ],
)
def test_dlt_verdicts(
    ledger: DoseLedger, term: str, grade: int, onset: int, attribution: str, verdict: str
) -> None:
    trial_id, (pid,) = dosing(ledger, template(AVU))
    recorded = ae(ledger, pid, term, grade, onset, attribution=attribution)
    assert recorded["dlt"]["verdict"] == verdict
    cohort = ledger.trial(trial_id)["cohorts"][0]
    assert cohort["dlts"] == (1 if verdict == "dlt" else 0)


def test_thrombocytopenia_grade_3_with_bleeding_and_long_neutropenia_are_dlts(
    ledger: DoseLedger,
) -> None:
    _, (first, second) = dosing(ledger, template(AVU), count=2)
    assert (
        ae(ledger, first, "Platelet count decreased", 3, 9, with_bleeding=True)["dlt"]["verdict"]
        == "dlt"
    )
    assert (
        ae(ledger, second, "Neutrophil count decreased", 4, 9, duration_days=8)["dlt"]["verdict"]
        == "dlt"
    )


def test_candidate_counts_only_once_confirmed(ledger: DoseLedger) -> None:
    trial_id, patients = dosing(ledger, template(AVU), count=3)
    nausea = ae(ledger, patients[0], "Nausea", 3, 4)
    ae_id = UUID(nausea["ae_id"])
    for pid in patients[1:]:
        complete(ledger, pid)
    with pytest.raises(CommandRefused, match="awaiting SRC adjudication"):
        complete(ledger, patients[0])
    with pytest.raises(CommandRefused, match="1 DLT candidate"):
        ledger.sign_decision(trial_id, 1, "escalate", SRC)
    with pytest.raises(CommandRefused, match="src_member"):
        ledger.adjudicate_dlt(trial_id, patients[0], ae_id, True, INVESTIGATOR, reason="x")
    with pytest.raises(CommandRefused, match="needs a reason"):
        ledger.adjudicate_dlt(trial_id, patients[0], ae_id, True, SRC, reason=" ")
    ledger.adjudicate_dlt(
        trial_id,
        patients[0],
        ae_id,
        True,
        SRC,
        reason="not controlled within 72 h despite antiemetics",
    )
    trial = ledger.trial(trial_id)
    assert trial["cohorts"][0]["dlts"] == 1
    assert trial["recommendation"]["action"] == "expand"
    with pytest.raises(CommandRefused, match="not a DLT candidate"):
        ledger.adjudicate_dlt(trial_id, patients[0], ae_id, False, SRC, reason="again")


def test_rejected_candidate_does_not_count(ledger: DoseLedger) -> None:
    trial_id, patients = dosing(ledger, template(AVU), count=3)
    lab = ae(ledger, patients[0], "CPK increased", 3, 4, clinically_significant=False)
    assert lab["dlt"]["verdict"] == "candidate"
    ledger.adjudicate_dlt(
        trial_id,
        patients[0],
        UUID(lab["ae_id"]),
        False,
        SRC,
        reason="asymptomatic, resolved within 7 days",
    )
    for pid in patients:
        complete(ledger, pid)
    trial = ledger.trial(trial_id)
    assert trial["cohorts"][0]["dlts"] == 0
    assert trial["recommendation"]["action"] == "escalate"


def test_non_evaluable_patient_is_replaced_and_the_recommendation_follows(
    ledger: DoseLedger,
) -> None:
    trial_id, patients = dosing(ledger, template(AVU), count=3)
    ae(ledger, patients[0], "Fatigue", 3, 10)  # DLT
    ledger.record_dlt_window_outcome(
        patients[1], "not_evaluable", day(9), INVESTIGATOR, reason="progressive disease"
    )
    complete(ledger, patients[2])
    assert ledger.trial(trial_id)["recommendation"] is None  # a place is open
    replacement = ledger.enrol_patient(trial_id, "S02", INVESTIGATOR, enrolment_date=DAY0)
    ledger.record_baseline_eye_exam(replacement, day(10), "20/20", "20/20", INVESTIGATOR)
    ledger.record_baseline_skin_exam(replacement, day(10), "none", INVESTIGATOR)
    ledger.start_dosing(replacement, day(11), INVESTIGATOR)
    ae(ledger, replacement, "Diarrhea", 4, 15)  # a second DLT in the cohort
    trial = ledger.trial(trial_id)
    assert trial["outcomes"] == "1TNT"
    assert trial["recommendation"]["action"] == "stop_no_mtd"
    assert trial["cohorts"][0]["not_evaluable"] == 1


def test_ae_after_the_window_is_recorded_but_the_window_outcome_stands(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, template(AVU))
    complete(ledger, pid)
    late = ae(ledger, pid, "Fatigue", 3, 40)
    assert late["dlt"]["verdict"] == "not_dlt"
    assert ledger.patient(pid)["dlt_outcome"] == "no_dlt"
    assert DAY0 + dt.timedelta(days=39) == day(40)
    assert ADMIN.role == "admin"


def test_grade_3_rash_from_a_skin_assessment_is_a_dlt(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, template(AVU))
    result = ledger.record_skin_assessment(
        pid, SkinAssessment(day(12), "face, chest and back", 40, "severe"), INVESTIGATOR
    )
    assert result["grade"] == 3
    assert ledger.trial(trial_id)["cohorts"][0]["dlts"] == 1
    assert ledger.patient(pid)["dlt_outcome"] == "dlt"
