"""Every refused command leaves the event store exactly as it was, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from domain.ae_report import AdverseEventReport, SkinAssessment
from domain.errors import ConcurrencyConflict, DomainError, NotFound
from domain.patient import Patient
from domain.protocol import template
from domain.trial import Trial
from support import ADMIN, DAY0, INVESTIGATOR, SRC


class World:
    """A trial with one cohort in progress: a screened, a dosing and an evaluated patient."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.trial = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
        self.screening = ledger.enrol_patient(self.trial, "S01", INVESTIGATOR, enrolment_date=DAY0)
        self.dosing = ledger.enrol_patient(self.trial, "S01", INVESTIGATOR, enrolment_date=DAY0)
        ledger.record_baseline_eye_exam(self.dosing, DAY0, "20/20", "20/20", INVESTIGATOR)
        ledger.record_baseline_skin_exam(self.dosing, DAY0, "no rash", INVESTIGATOR)
        ledger.start_dosing(self.dosing, DAY0, INVESTIGATOR)
        self.done = ledger.enrol_patient(self.trial, "S02", INVESTIGATOR, enrolment_date=DAY0)
        ledger.record_baseline_eye_exam(self.done, DAY0, "20/20", "20/20", INVESTIGATOR)
        ledger.record_baseline_skin_exam(self.done, DAY0, "no rash", INVESTIGATOR)
        ledger.start_dosing(self.done, DAY0, INVESTIGATOR)
        ledger.record_dlt_window_outcome(
            self.done,
            "dlt",
            DAY0 + dt.timedelta(days=3),
            INVESTIGATOR,
            description="G4 CPK increased",
        )


Command = Callable[[World], object]
LATE = DAY0 + dt.timedelta(days=40)
REFUSED: dict[str, Command] = {
    "enrol into a full cohort": lambda w: w.ledger.enrol_patient(w.trial, "S01", INVESTIGATOR),
    "enrol into an unknown trial": lambda w: w.ledger.enrol_patient(uuid4(), "S01", INVESTIGATOR),
    "enrol with a bad site id": lambda w: w.ledger.enrol_patient(w.trial, "S 01!", INVESTIGATOR),
    "enrol with a bad subject id": lambda w: w.ledger.enrol_patient(
        w.trial, "S01", INVESTIGATOR, subject_id="Jane Doe"
    ),
    "eye exam with malformed BCVA": lambda w: w.ledger.record_baseline_eye_exam(
        w.screening, DAY0, "20/abc", "20/20", INVESTIGATOR
    ),
    "baseline eye exam after dosing": lambda w: w.ledger.record_baseline_eye_exam(
        w.dosing, DAY0, "20/20", "20/20", INVESTIGATOR
    ),
    "dosing without baseline exam": lambda w: w.ledger.start_dosing(
        w.screening, DAY0, INVESTIGATOR
    ),
    "dosing twice": lambda w: w.ledger.start_dosing(w.dosing, DAY0, INVESTIGATOR),
    "dosing an unknown patient": lambda w: w.ledger.start_dosing(uuid4(), DAY0, INVESTIGATOR),
    "DLT before dosing": lambda w: w.ledger.record_dlt_window_outcome(
        w.screening, "dlt", DAY0, INVESTIGATOR, description="x"
    ),
    "DLT after the window": lambda w: w.ledger.record_dlt_window_outcome(
        w.dosing, "dlt", LATE, INVESTIGATOR, description="G3 rash"
    ),
    "no DLT before the window ends": lambda w: w.ledger.record_dlt_window_outcome(
        w.dosing, "no_dlt", DAY0 + dt.timedelta(days=5), INVESTIGATOR, doses_taken_fraction=1
    ),
    "no DLT with too few doses": lambda w: w.ledger.record_dlt_window_outcome(
        w.dosing, "no_dlt", LATE, INVESTIGATOR, doses_taken_fraction=0.5
    ),
    "not evaluable without reason": lambda w: w.ledger.record_dlt_window_outcome(
        w.dosing, "not_evaluable", LATE, INVESTIGATOR
    ),
    "second outcome": lambda w: w.ledger.record_dlt_window_outcome(
        w.done, "no_dlt", LATE, INVESTIGATOR, doses_taken_fraction=1
    ),
    "unknown outcome": lambda w: w.ledger.record_dlt_window_outcome(
        w.dosing, "unclear", LATE, INVESTIGATOR
    ),
    "decision before evaluation": lambda w: w.ledger.sign_decision(w.trial, 1, "expand", SRC),
    "decision by an investigator": lambda w: w.ledger.sign_decision(
        w.trial, 1, "expand", INVESTIGATOR
    ),
    "decision on an unknown trial": lambda w: w.ledger.sign_decision(uuid4(), 1, "expand", SRC),
    "unknown decision": lambda w: w.ledger.sign_decision(w.trial, 1, "promote", SRC),
    "skin exam without findings": lambda w: w.ledger.record_baseline_skin_exam(
        w.screening, DAY0, " ", INVESTIGATOR
    ),
    "dose before dosing started": lambda w: w.ledger.administer_dose(
        w.screening, DAY0, INVESTIGATOR
    ),
    "AE before dosing": lambda w: w.ledger.record_adverse_event(
        w.screening, report("Fatigue", 3), INVESTIGATOR
    ),
    "AE with an unknown term": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("Fatigu", 3), INVESTIGATOR
    ),
    "AE with a grade the term lacks": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("Nausea", 4), INVESTIGATOR
    ),
    "AE with an unknown attribution": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("Fatigue", 3, attribution="maybe"), INVESTIGATOR
    ),
    "AE before the first dose": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("Fatigue", 3, onset=DAY0 - dt.timedelta(days=1)), INVESTIGATOR
    ),
    "AE measurement within normal limits": lambda w: w.ledger.record_adverse_event(
        w.dosing,
        report("CPK increased", None, measurement={"value": 150, "uln": 200}),
        INVESTIGATOR,
    ),
    "AE measurement contradicting the grade": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("CPK increased", 2, measurement={"value": 1500, "uln": 200}), INVESTIGATOR
    ),
    "AE negative measurement": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("CPK increased", None, measurement={"value": -5, "uln": 200}), INVESTIGATOR
    ),
    "blurred vision BCVA without the eye": lambda w: w.ledger.record_adverse_event(
        w.dosing, report("Blurred vision", None, bcva="20/60"), INVESTIGATOR
    ),
    "grade change of an unknown AE": lambda w: w.ledger.change_ae_grade(
        w.dosing, uuid4(), 1, LATE, INVESTIGATOR
    ),
    "hold with no recommendation and no reason": lambda w: w.ledger.record_dose_action(
        w.dosing, "hold", LATE, INVESTIGATOR
    ),
    "resume when not withheld": lambda w: w.ledger.record_dose_action(
        w.dosing, "resume", LATE, INVESTIGATOR, reason="r"
    ),
    "reduce with no recommendation and no reason": lambda w: w.ledger.record_dose_action(
        w.dosing, "reduce", LATE, INVESTIGATOR
    ),
    "discontinue with no recommendation and no reason": lambda w: w.ledger.record_dose_action(
        w.dosing, "discontinue", LATE, INVESTIGATOR
    ),
    "unknown dose action": lambda w: w.ledger.record_dose_action(
        w.dosing, "pause", LATE, INVESTIGATOR
    ),
    "skin assessment with BSA over 100 %": lambda w: w.ledger.record_skin_assessment(
        w.dosing, SkinAssessment(LATE, "back", 120, "mild"), INVESTIGATOR
    ),
    "skin assessment with unknown symptoms": lambda w: w.ledger.record_skin_assessment(
        w.dosing, SkinAssessment(LATE, "back", 20, "itchy"), INVESTIGATOR
    ),
    "adjudicating an AE that is no candidate": lambda w: w.ledger.adjudicate_dlt(
        w.trial, w.done, uuid4(), True, SRC, reason="r"
    ),
}


def report(term: str, grade: int | None, **extra: Any) -> AdverseEventReport:
    onset = extra.pop("onset", DAY0 + dt.timedelta(days=2))
    attribution = extra.pop("attribution", "possible")
    return AdverseEventReport(term=term, grade=grade, onset=onset, attribution=attribution, **extra)


def _count(ledger: DoseLedger) -> int | None:
    return ledger.recorder.max_notification_id()


@pytest.mark.parametrize("command", REFUSED.values(), ids=REFUSED.keys())
def test_refused_command_appends_nothing(ledger: DoseLedger, command: Command) -> None:
    world = World(ledger)
    before = _count(ledger)
    with pytest.raises(DomainError) as caught:
        command(world)
    assert str(caught.value)
    assert "\n" not in str(caught.value)
    assert _count(ledger) == before


def test_after_mtd_nothing_more_is_recorded(ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    for _ in range(2):
        for _ in range(3):
            pid = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
            ledger.record_baseline_eye_exam(pid, DAY0, "20/20", "20/20", INVESTIGATOR)
            ledger.record_baseline_skin_exam(pid, DAY0, "no rash", INVESTIGATOR)
            ledger.start_dosing(pid, DAY0, INVESTIGATOR)
            ledger.record_dlt_window_outcome(
                pid, "no_dlt", LATE, INVESTIGATOR, doses_taken_fraction=1
            )
        rec = ledger.trial(trial_id)["recommendation"]
        ledger.sign_decision(
            trial_id,
            len(ledger.trial(trial_id)["cohorts"]),
            rec["action"],
            SRC,
            mtd_level=rec["mtd"],
        )
    assert ledger.trial(trial_id)["mtd"] == 2
    before = _count(ledger)
    for command in (
        lambda: ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0),
        lambda: ledger.sign_decision(trial_id, 2, "escalate", SRC, reason="r"),
        lambda: ledger.sign_decision(trial_id, 3, "escalate", SRC, reason="r"),
    ):
        with pytest.raises(DomainError):
            command()
    assert _count(ledger) == before


def test_enrolment_saves_trial_and_patient_atomically(database_url: str) -> None:
    """A lost race on the trial stores neither the trial's event nor the new patient."""
    first = build_ledger(env=persistence_env(database_url))
    second = build_ledger(env=persistence_env(database_url))
    try:
        trial_id = first.register_trial(template("defactinib-avutometinib"), ADMIN)
        stale: Trial = second.repository.get(trial_id)
        first.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
        before = _count(first)
        patient_id: UUID = uuid4()
        stale.enrol(patient_id, "S02-001", "S02", INVESTIGATOR)
        patient = Patient(
            id=patient_id,
            trial_id=trial_id,
            subject_id="S02-001",
            site_id="S02",
            cohort=1,
            level=1,
            doses=[],
            dlt_window_days=28,
            enrolment_date=DAY0 - dt.timedelta(days=7),
            actor=INVESTIGATOR.as_record(),
            site_time_zone="UTC",
        )
        with pytest.raises(ConcurrencyConflict):
            second.record(stale, patient)
        assert _count(first) == before
        with pytest.raises(NotFound):
            first.patient_aggregate(patient_id)
        assert len(first.trial_aggregate(trial_id).open_cohort.patients) == 1
    finally:
        first.close()
        second.close()
