"""Reminder stories on SQLite and PostgreSQL: created by an event, cleared, fired once when due."""

from __future__ import annotations

import datetime as dt
import threading
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_reminders
from adapters.persistence.environment import persistence_env
from domain.patient import Patient
from domain.protocol import template
from domain.reminder_schedule import OpenReminder, Reminder, start_of
from support import DAY0, INVESTIGATOR, SRC, ae, day, dosing

FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
AVUTOMETINIB = "defactinib-avutometinib"  # 28-day cycles, 28-day DLT window


def of(reminders: list[OpenReminder], kind: str, pid: UUID | None = None) -> list[OpenReminder]:
    return [r for r in reminders if r.kind == kind and (pid is None or r.patient_id == pid)]


def cpk_hold(ledger: DoseLedger) -> tuple[UUID, UUID]:
    """A patient on a grade 4 CPK hold from day 40 (window to day 61 inclusive)."""
    _, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    ae_id = UUID(ae(ledger, pid, "CPK increased", 4, 40)["ae_id"])
    ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    return pid, ae_id


def test_cpk_window_fires_once_when_it_expires_and_flags_discontinuation(
    ledger: DoseLedger,
) -> None:
    pid, _ = cpk_hold(ledger)
    reminders = build_reminders(ledger)
    (window,) = of(reminders.open(start_of(day(41))), "cpk_recovery_window", pid)
    assert window.due_at == start_of(day(62))  # the deadline day (day 61) is still in time
    assert of(reminders.due(start_of(day(62)) - dt.timedelta(seconds=1)), window.kind) == []
    assert of(reminders.due(start_of(day(62))), window.kind) == [window]
    assert not ledger.patient_aggregate(pid).discontinue_requirements  # `due` changed nothing

    assert of(reminders.tick(start_of(day(62))), window.kind) == [window]
    (required,) = ledger.patient_aggregate(pid).discontinue_requirements
    assert (required.action, required.rule) == ("discontinue", "cpk-not-recovered")
    assert required.since == day(62)
    assert of(reminders.tick(start_of(day(63))), window.kind) == []
    assert of(reminders.due(FAR_FUTURE), window.kind) == []
    issued = ledger.repository.get(window.id)
    assert isinstance(issued, Reminder)
    assert (issued.kind, issued.patient_id, issued.due_at) == (window.kind, pid, window.due_at)
    assert issued.fired_at == start_of(day(62))


def test_cpk_window_cleared_by_recovery_in_time_hold_by_resumption(ledger: DoseLedger) -> None:
    pid, ae_id = cpk_hold(ledger)
    reminders = build_reminders(ledger)
    (hold,) = of(reminders.open(), "hold_unresolved", pid)
    assert hold.due_at == start_of(day(69))  # open more than 28 days (protocol default)
    ledger.change_ae_grade(pid, ae_id, 1, day(54), INVESTIGATOR)
    assert of(reminders.open(), "cpk_recovery_window", pid) == []
    assert of(reminders.open(), "hold_unresolved", pid) == [hold]  # still withheld
    ledger.record_dose_action(pid, "resume", day(55), INVESTIGATOR)
    assert of(reminders.tick(FAR_FUTURE), "hold_unresolved", pid) == []
    assert of(reminders.tick(FAR_FUTURE), "cpk_recovery_window", pid) == []


def test_late_recovery_does_not_clear_the_window(ledger: DoseLedger) -> None:
    pid, ae_id = cpk_hold(ledger)
    ledger.change_ae_grade(pid, ae_id, 1, day(63), INVESTIGATOR)  # after the deadline
    assert len(of(build_reminders(ledger).open(), "cpk_recovery_window", pid)) == 1


def test_hold_unresolved_fires_once_and_discontinuation_clears_both(ledger: DoseLedger) -> None:
    pid, _ = cpk_hold(ledger)
    reminders = build_reminders(ledger)
    fired = reminders.tick(start_of(day(69)))
    assert {"hold_unresolved", "cpk_recovery_window"} <= {r.kind for r in fired}
    assert {r.patient_id for r in fired} == {pid}
    assert reminders.tick(start_of(day(70))) == []
    other, _ = cpk_hold(ledger)
    ledger.review_hold(other, day(62))
    ledger.record_dose_action(other, "discontinue", day(63), INVESTIGATOR)
    assert of(reminders.open(), "hold_unresolved", other) == []
    assert of(reminders.open(), "cpk_recovery_window", other) == []


def test_baseline_eye_exam_due_at_enrolment_cleared_by_the_exam(ledger: DoseLedger) -> None:
    trial_id, _ = dosing(ledger, template(AVUTOMETINIB), count=0)
    first = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
    second = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
    reminders = build_reminders(ledger)
    (baseline,) = of(reminders.open(), "ophthalmology_baseline", first)
    assert baseline.trial_id == trial_id
    assert baseline.due_at <= dt.datetime.now(dt.UTC)  # due at once: dosing needs it
    ledger.record_baseline_eye_exam(first, day(0), "20/20", "20/20", INVESTIGATOR)
    assert of(reminders.open(), "ophthalmology_baseline", first) == []
    fired = reminders.tick(FAR_FUTURE)
    assert [r.patient_id for r in of(fired, "ophthalmology_baseline")] == [second]
    assert of(reminders.tick(FAR_FUTURE), "ophthalmology_baseline") == []


def test_referral_due_seven_days_after_a_visual_ae(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    reminders = build_reminders(ledger)
    ae(ledger, pid, "Fatigue", 1, 18)
    assert of(reminders.open(), "ophthalmology_referral", pid) == []
    ae(ledger, pid, "Blurred vision", None, 20, eye="left", bcva="20/50")
    (referral,) = of(reminders.open(), "ophthalmology_referral", pid)
    assert referral.due_at == start_of(day(28))  # by onset + 7 days (day 27) inclusive
    assert of(reminders.tick(start_of(day(27))), "ophthalmology_referral") == []
    assert of(reminders.tick(start_of(day(28))), "ophthalmology_referral") == [referral]
    assert of(reminders.tick(start_of(day(29))), "ophthalmology_referral") == []


def test_dlt_window_end_due_after_its_last_day_cleared_by_the_outcome(ledger: DoseLedger) -> None:
    _, (done, waiting) = dosing(ledger, template(AVUTOMETINIB), count=2)
    reminders = build_reminders(ledger)
    (window,) = of(reminders.open(), "dlt_window_end", done)
    assert window.due_at == start_of(day(29))  # window days 1-28
    ledger.record_dlt_window_outcome(
        done, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1.0
    )
    assert of(reminders.open(), "dlt_window_end", done) == []
    assert of(reminders.tick(start_of(day(28))), "dlt_window_end") == []
    fired = of(reminders.tick(start_of(day(29))), "dlt_window_end")
    assert [r.patient_id for r in fired] == [waiting]
    assert of(reminders.tick(start_of(day(29))), "dlt_window_end") == []


def test_follow_up_eye_exam_one_per_cycle_while_on_treatment(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    reminders = build_reminders(ledger)
    (cycle_1,) = of(reminders.open(start_of(day(2))), "ophthalmology_follow_up", pid)
    assert cycle_1.due_at == start_of(day(29))  # first day of cycle 2
    assert of(reminders.tick(start_of(day(30))), "ophthalmology_follow_up") == [cycle_1]
    assert of(reminders.tick(start_of(day(31))), "ophthalmology_follow_up") == []
    (cycle_2,) = of(reminders.tick(start_of(day(57))), "ophthalmology_follow_up")
    assert cycle_2.due_at == start_of(day(57)) and cycle_2.id != cycle_1.id
    assert of(reminders.tick(start_of(day(58))), "ophthalmology_follow_up") == []
    ledger.record_dose_action(pid, "discontinue", day(60), INVESTIGATOR, reason="progression")
    assert of(reminders.open(FAR_FUTURE), "ophthalmology_follow_up") == []


def test_src_decision_due_when_the_cohort_is_fully_evaluated(ledger: DoseLedger) -> None:
    trial_id, patients = dosing(ledger, template(AVUTOMETINIB), count=3)
    reminders = build_reminders(ledger)
    for pid in patients[:2]:
        ledger.record_dlt_window_outcome(
            pid, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1
        )
    assert of(reminders.open(), "src_decision_due") == []
    ledger.record_dlt_window_outcome(
        patients[2], "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1
    )
    (decision,) = of(reminders.open(), "src_decision_due")
    assert (decision.trial_id, decision.patient_id) == (trial_id, None)
    now = dt.datetime.now(dt.UTC)
    assert of(reminders.tick(now), "src_decision_due") == [decision]  # due at once
    assert of(reminders.tick(now), "src_decision_due") == []
    ledger.sign_decision(trial_id, 1, "escalate", SRC)
    assert of(reminders.open(), "src_decision_due") == []


def test_a_new_ledger_on_the_same_store_does_not_refire(database_url: str) -> None:
    env = persistence_env(database_url)
    first = build_ledger(env=env)
    try:
        pid, _ = cpk_hold(first)
        issued = build_reminders(first).tick(start_of(day(62)))
        assert of(issued, "cpk_recovery_window", pid)
    finally:
        first.close()
    second = build_ledger(env=env)  # "restart": nothing ran while hold_unresolved fell due
    try:
        reminders = build_reminders(second)
        assert reminders.tick(start_of(day(62))) == []
        late = reminders.tick(start_of(day(100)))
        assert [r.kind for r in of(late, "hold_unresolved", pid)] == ["hold_unresolved"]
        assert reminders.tick(start_of(day(100))) == []
        recommendations = [
            e
            for e in second.events.get(pid)
            if isinstance(e, Patient.DoseRecommended)
            and e.recommendation["action"] == "discontinue"
        ]
        assert len(recommendations) == 1
    finally:
        second.close()


@pytest.mark.postgres
def test_three_ledgers_ticking_at_once_issue_each_reminder_once(postgres_url: str) -> None:
    env = persistence_env(postgres_url)
    ledgers = [build_ledger(env=env) for _ in range(3)]
    try:
        for _ in range(2):
            cpk_hold(ledgers[0])
        _, patients = dosing(ledgers[0], template(AVUTOMETINIB), count=3)
        ae(ledgers[0], patients[0], "Blurred vision", None, 20, eye="left", bcva="20/50")
        at = start_of(day(100))
        expected = build_reminders(ledgers[0]).due(at)
        assert len(expected) >= 10
        results: list[list[OpenReminder]] = [[] for _ in ledgers]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(ledgers))

        def run(i: int) -> None:
            try:
                barrier.wait()
                results[i] = build_reminders(ledgers[i]).tick(at)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ledgers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        issued = [r.id for result in results for r in result]
        assert sorted(issued, key=str) == sorted((r.id for r in expected), key=str)
        assert build_reminders(ledgers[1]).tick(at) == []
        for pid in {r.patient_id for r in of(expected, "cpk_recovery_window")}:
            assert pid is not None
            recs = [
                e.recommendation["action"]
                for e in ledgers[2].events.get(pid)
                if isinstance(e, Patient.DoseRecommended)
            ]
            assert recs.count("discontinue") == 1
    finally:
        for ledger in ledgers:
            ledger.close()
