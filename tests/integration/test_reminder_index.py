"""The reminder index agrees with the domain's derivation; on-treatment eye exams clear reminders.

The oracle replays every trial and patient in the store with ``domain.reminder_schedule`` (what the
index replaced) and drops what was issued; the index must give the same due reminders at every
instant, before and after ticks, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.application.reminder_tick import Reminders
from adapters.bootstrap import build_reminders
from domain.ctcae import CtcaeCatalogue
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import template
from domain.reminder_schedule import (
    OpenReminder,
    PatientFollowUps,
    eye_disorder_terms,
    patient_reminders,
    start_of,
    trial_reminders,
)
from support import DAY0, INVESTIGATOR, SRC, ae, day, dosing, trial_ids

AVUTOMETINIB = "defactinib-avutometinib"  # 28-day cycles, 28-day DLT window
EYE_TERMS = eye_disorder_terms(CtcaeCatalogue.load())


def oracle_due(ledger: DoseLedger, at: dt.datetime) -> set[tuple[UUID, str, dt.datetime]]:
    """Due reminders by replaying every aggregate with the domain's derivation."""
    found: list[OpenReminder] = []
    for trial_id in trial_ids(ledger):
        found += trial_reminders(ledger.repository.event_store.get(trial_id))
        trial = ledger.trial_aggregate(trial_id)
        cycle = trial.protocol.schedule.cycle_length_days
        for patient_id in trial.subjects.values():
            events = ledger.repository.event_store.get(patient_id)
            found += patient_reminders(events, at=at, cycle_length_days=cycle, eye_terms=EYE_TERMS)
    return {
        (r.id, r.kind, r.due_at)
        for r in found
        if r.due_at <= at and not ledger.recorder.select_events(r.id, limit=1)
    }


def index_due(reminders: Reminders, at: dt.datetime) -> set[tuple[UUID, str, dt.datetime]]:
    return {(r.id, r.kind, r.due_at) for r in reminders.due(at)}


def story(ledger: DoseLedger) -> tuple[UUID, list[UUID]]:
    """Three dosing patients with a CPK hold, a visual AE and its referral, exams, outcomes."""
    trial_id, patients = dosing(ledger, template(AVUTOMETINIB), count=3)
    cpk, eyes, plain = patients
    # Held from day 22, in the week off: the window's 21 planned doses were all taken.
    cpk_ae = UUID(ae(ledger, cpk, "CPK increased", 3, 22, attribution="unrelated")["ae_id"])
    ledger.record_dose_action(cpk, "hold", day(22), INVESTIGATOR, ae_id=cpk_ae)
    ae(ledger, eyes, "Blurred vision", None, 12, eye="left", bcva="20/50", attribution="unrelated")
    ledger.record_eye_exam(eyes, day(15), "referral", "20/20", "20/40", INVESTIGATOR)
    ledger.record_eye_exam(plain, day(27), "follow_up", "20/20", "20/20", INVESTIGATOR)
    for pid in (eyes, plain):
        ledger.record_dlt_window_outcome(
            pid, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1.0
        )
    ledger.record_dlt_window_outcome(cpk, "no_dlt", day(28), INVESTIGATOR)
    return trial_id, patients


def test_index_gives_what_the_domain_derivation_gives_before_and_after_ticks(
    ledger: DoseLedger,
) -> None:
    trial_id, _ = story(ledger)
    with build_reminders(ledger) as reminders:
        instants = [start_of(day(d)) for d in range(0, 130, 6)]
        for at in instants:
            assert index_due(reminders, at) == oracle_due(ledger, at), at
        issued = 0
        for at in instants[::3]:
            issued += len(reminders.tick(at))
            for later in instants:
                assert index_due(reminders, later) == oracle_due(ledger, later), (at, later)
        assert issued >= 6
        ledger.sign_decision(trial_id, 1, "escalate", SRC)
        far = start_of(day(400))
        assert index_due(reminders, far) == oracle_due(ledger, far)


def test_a_follow_up_exam_clears_its_cycle_reminder(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    with build_reminders(ledger) as reminders:
        (cycle_1,) = [r for r in reminders.open(start_of(day(2))) if r.kind.endswith("follow_up")]
        assert cycle_1.due_at == start_of(day(29))
        # Day 27 is nearest to cycle 1's due day (29): it is cycle 1's exam.
        ledger.record_eye_exam(pid, day(27), "follow_up", "20/20", "20/20", INVESTIGATOR)
        follow_ups = [r for r in reminders.open(start_of(day(30))) if r.kind.endswith("follow_up")]
        assert [r.due_at for r in follow_ups] == [start_of(day(57))]
        fired = reminders.tick(start_of(day(30)))
        assert [r.kind for r in fired if r.patient_id == pid] == ["dlt_window_end"]
        fired = [r for r in reminders.tick(start_of(day(57))) if r.kind.endswith("follow_up")]
        assert [r.due_at for r in fired] == [start_of(day(57))]


def test_a_referral_exam_clears_the_referral(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    ae(ledger, pid, "Blurred vision", None, 20, eye="left", bcva="20/50")
    with build_reminders(ledger) as reminders:
        assert [r.kind for r in reminders.open() if r.kind == "ophthalmology_referral"] == [
            "ophthalmology_referral"
        ]
        ledger.record_eye_exam(pid, day(19), "referral", "20/20", "20/40", INVESTIGATOR)
        assert any(r.kind == "ophthalmology_referral" for r in reminders.open())  # before onset
        ledger.record_eye_exam(pid, day(22), "referral", "20/20", "20/40", INVESTIGATOR)
        assert not any(r.kind == "ophthalmology_referral" for r in reminders.open())
        assert not any(
            r.kind == "ophthalmology_referral" for r in reminders.tick(start_of(day(40)))
        )


def test_eye_exams_refused_before_dosing_or_with_bad_input_append_nothing(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, template(AVUTOMETINIB))
    waiting = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
    head = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as refused:
        ledger.record_eye_exam(waiting, day(3), "follow_up", "20/20", "20/20", INVESTIGATOR)
    assert refused.value.rule == "dosing_not_started"
    with pytest.raises(CommandRefused) as refused:
        ledger.record_eye_exam(pid, day(0), "follow_up", "20/20", "20/20", INVESTIGATOR)
    assert refused.value.rule == "exam_before_first_dose"
    with pytest.raises(InvalidInput) as invalid:
        ledger.record_eye_exam(pid, day(5), "yearly", "20/20", "20/20", INVESTIGATOR)
    assert invalid.value.field == "purpose"
    with pytest.raises(InvalidInput):
        ledger.record_eye_exam(pid, day(5), "follow_up", "20/20", "blurry", INVESTIGATOR)
    assert ledger.recorder.max_notification_id() == head


def test_a_patient_event_the_fold_says_it_ignored_leaves_the_fold_as_it_was(
    ledger: DoseLedger,
) -> None:
    """The index skips the events ``PatientFollowUps.apply`` reports unchanged (most AEs and
    grade changes): such an event must leave the fold's data exactly as it was."""
    trial_id, (cpk, _, plain) = story(ledger)
    fatigue = UUID(ae(ledger, plain, "Fatigue", 2, 29)["ae_id"])
    ledger.change_ae_grade(plain, fatigue, 1, day(31), INVESTIGATOR)
    ledger.change_ae_grade(plain, fatigue, 0, day(33), INVESTIGATOR)
    (cpk_ae,) = ledger.patient_aggregate(cpk).adverse_events
    ledger.change_ae_grade(cpk, cpk_ae, 1, day(24), INVESTIGATOR)  # recovered: clears the window
    trial = ledger.trial_aggregate(trial_id)
    cycle = trial.protocol.schedule.cycle_length_days
    ignored, applied = Counter[str](), Counter[str]()
    for pid in trial.subjects.values():
        first, *rest = ledger.repository.event_store.get(pid)
        fold = PatientFollowUps.enrolled(first, cycle)
        for event in rest:
            before = fold.as_data()
            if fold.apply(event, EYE_TERMS):
                applied[type(event).__name__] += 1
            else:
                assert fold.as_data() == before, event
                ignored[type(event).__name__] += 1
    assert ignored["AERecorded"] and ignored["AEGraded"] and ignored["AEResolved"]
    assert applied["AERecorded"] == 2 and applied["AEGraded"] == 1  # CPK, visual AE; recovery
