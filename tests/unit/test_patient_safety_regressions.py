"""Patient safety defects found by the safety stories and properties, one test each."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.ctcae import CtcaeCatalogue
from domain.errors import CommandRefused
from domain.patient import Patient
from domain.policies import apply_dlt_verdict
from domain.protocol import template
from domain.trial import Trial
from support import DAY0, INVESTIGATOR, SCHEDULE, SRC, TODAY, new_patient, replay

CATALOGUE = CtcaeCatalogue.load()
PROTOCOL = template("defactinib-avutometinib")


def on(n: int) -> dt.date:
    """Study day n (day 1 is the first dose)."""
    return DAY0 + dt.timedelta(days=n - 1)


def dosing_patient() -> Patient:
    patient = new_patient()
    patient.record_baseline_eye_exam(on(0), "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(on(0), "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(on(1), INVESTIGATOR, today=TODAY)
    return patient


def record_ae(patient: Patient, term: str, grade: int, day: int) -> UUID:
    ae_id = uuid4()
    patient.record_adverse_event(
        ae_id,
        CATALOGUE.lookup(term),
        grade,
        on(day),
        INVESTIGATOR,
        today=TODAY,
        protocol=PROTOCOL,
        attribution="possible",
    )
    return ae_id


def test_hold_for_an_ae_that_arrived_during_a_hold_is_recorded_not_already_withheld() -> None:
    patient = dosing_patient()
    rash = record_ae(patient, "Rash acneiform", 3, 35)
    patient.hold_dose(on(35), INVESTIGATOR, today=TODAY, ae_id=rash)
    cpk = record_ae(patient, "CPK increased", 4, 38)
    assert patient.requirements[cpk].deadline == on(38 + 21)  # joined the hold on arrival

    patient.hold_dose(on(40), INVESTIGATOR, today=TODAY, ae_id=cpk)

    held = patient.pending_events[-1]
    assert isinstance(held, Patient.DoseHeld)
    assert (held.ae_id, held.deadline, held.rule) == (cpk, on(59), "cpk-g4")
    assert patient.requirements[cpk].deadline == on(59)  # its window did not restart
    assert len(patient.holds) == 1


def test_death_is_dated_the_day_an_ae_reached_grade_5_not_its_onset() -> None:
    patient = dosing_patient()
    ae_id = record_ae(patient, "Diarrhea", 2, 10)
    patient.administer_dose(on(15), INVESTIGATOR, today=TODAY)
    patient.change_ae_grade(
        ae_id,
        5,
        on(20),
        INVESTIGATOR,
        today=TODAY,
        protocol=PROTOCOL,
        term=CATALOGUE.lookup("Diarrhea"),
    )
    assert patient.died_on == on(20)
    assert all(day <= patient.died_on for day in patient.dose_days)
    with pytest.raises(CommandRefused) as caught:
        patient.administer_dose(on(21), INVESTIGATOR, today=TODAY)
    assert caught.value.rule == "patient_died"
    assert replay(patient).died_on == on(20)


def test_a_discontinuation_is_not_dated_before_a_dose_already_recorded() -> None:
    patient = dosing_patient()
    patient.administer_dose(on(20), INVESTIGATOR, today=TODAY)
    events = len(patient.pending_events)
    with pytest.raises(CommandRefused) as caught:
        patient.discontinue(
            on(15), INVESTIGATOR, today=TODAY, protocol=PROTOCOL, reason="progression"
        )
    assert caught.value.rule == "date_before_last_dose"
    assert len(patient.pending_events) == events and patient.discontinued_on is None
    patient.discontinue(on(20), INVESTIGATOR, today=TODAY, protocol=PROTOCOL, reason="progression")
    assert patient.discontinued_on == on(20)


def test_a_hold_is_not_dated_on_a_day_whose_dose_is_recorded() -> None:
    patient = dosing_patient()
    patient.administer_dose(on(6), INVESTIGATOR, today=TODAY)
    events = len(patient.pending_events)
    with pytest.raises(CommandRefused) as caught:
        patient.hold_dose(on(6), INVESTIGATOR, today=TODAY, reason="surgery")
    assert caught.value.rule == "dose_recorded_that_day"
    assert len(patient.pending_events) == events and not patient.holds
    patient.hold_dose(on(7), INVESTIGATOR, today=TODAY, reason="surgery")
    assert not any(h.covers(d) for h in patient.holds for d in patient.dose_days)


def test_a_grade_5_is_not_dated_before_a_dose_already_recorded() -> None:
    patient = dosing_patient()
    patient.administer_dose(on(10), INVESTIGATOR, today=TODAY)
    events = len(patient.pending_events)
    with pytest.raises(CommandRefused) as caught:
        record_ae(patient, "Diarrhea", 5, 8)
    assert caught.value.rule == "date_before_last_dose"
    ae_id = record_ae(patient, "Diarrhea", 2, 8)
    events = len(patient.pending_events)
    with pytest.raises(CommandRefused) as caught:
        patient.change_ae_grade(
            ae_id,
            5,
            on(9),
            INVESTIGATOR,
            today=TODAY,
            protocol=PROTOCOL,
            term=CATALOGUE.lookup("Diarrhea"),
        )
    assert caught.value.rule == "date_before_last_dose"
    assert len(patient.pending_events) == events and patient.died_on is None
    record_ae(patient, "Sepsis", 5, 10)  # on the day of the last dose: after it
    assert patient.died_on == on(10)


def test_a_late_entry_at_a_dlt_grade_dated_inside_the_window_is_a_dlt() -> None:
    patient = dosing_patient()
    ae_id = record_ae(patient, "CPK increased", 2, 5)
    term = CATALOGUE.lookup("CPK increased")
    regrade = {"today": TODAY, "protocol": PROTOCOL, "term": term}
    patient.change_ae_grade(ae_id, 4, on(30), INVESTIGATOR, **regrade)  # after the window
    assert patient.adverse_events[ae_id].dlt_verdict == "not_dlt"
    # Entered late: the lab of day 20 showed grade 3.
    change = patient.change_ae_grade(ae_id, 3, on(20), INVESTIGATOR, **regrade)
    assert change.dlt is not None and change.dlt.verdict == "dlt"
    ae = patient.adverse_events[ae_id]
    assert (ae.dlt_verdict, ae.dlt_reached_on) == ("dlt", on(20))


def test_a_late_skin_assessment_at_the_rash_grade_inside_the_window_is_a_dlt() -> None:
    patient = dosing_patient()
    skin: dict[str, Any] = {
        "today": TODAY,
        "location": "face",
        "protocol": PROTOCOL,
        "term": CATALOGUE.lookup("Rash acneiform"),
    }
    patient.record_skin_assessment(
        on(10), INVESTIGATOR, bsa_percent=5, symptoms="mild", new_ae_id=uuid4(), **skin
    )
    late = {"bsa_percent": 40, "symptoms": "severe", "new_ae_id": uuid4()}
    patient.record_skin_assessment(on(30), INVESTIGATOR, **late, **skin)  # grade 3, too late
    (rash,) = patient.adverse_events.values()
    assert (rash.grade, rash.dlt_verdict) == (3, "not_dlt")
    # The day-24 visit, entered late, found the same grade 3: inside the window.
    result = patient.record_skin_assessment(on(24), INVESTIGATOR, **late, **skin)
    assert result.dlt is not None and result.dlt.verdict == "dlt"
    assert (rash.dlt_verdict, rash.dlt_reached_on) == ("dlt", on(24))


def test_a_dlt_candidate_dated_in_the_window_after_no_dlt_goes_before_the_src() -> None:
    patient = dosing_patient()
    trial = Trial(
        id=patient.trial_id,
        protocol=PROTOCOL.model_dump(mode="json"),
        name="t",
        actor=INVESTIGATOR.as_record(),
    )
    trial.enrol(patient.id, patient.subject_id, "S01", INVESTIGATOR)
    patient.close_dlt_window(
        "no_dlt", on(28), INVESTIGATOR, today=TODAY, schedule=SCHEDULE, min_dose_fraction=0.75
    )
    trial.record_outcome(patient.id, "no_dlt", on(28), INVESTIGATOR)

    ae_id = record_ae(patient, "Diarrhea", 3, 20)  # a candidate, entered after the window
    apply_dlt_verdict(trial, patient, ae_id, INVESTIGATOR)

    cohort = trial.cohorts[0]
    assert cohort.candidates == {patient.id: [ae_id]}
    assert patient.id not in cohort.outcomes and patient.dlt_outcome is None
    assert not cohort.fully_evaluated
    revised = [e for e in trial.pending_events if isinstance(e, Trial.OutcomeRevised)]
    assert [(e.old_outcome, e.new_outcome, e.clinical_date) for e in revised] == [
        ("no_dlt", None, on(20))
    ]
    # The SRC rejects it: the window closes without a DLT again.
    trial.adjudicate_dlt_candidate(patient.id, ae_id, False, SRC, reason="controlled in 48 h")
    patient.reject_dlt_candidate(ae_id, "controlled in 48 h", SRC)
    patient.close_dlt_window(
        "no_dlt", on(28), INVESTIGATOR, today=TODAY, schedule=SCHEDULE, min_dose_fraction=0.75
    )
    trial.record_outcome(patient.id, "no_dlt", on(28), INVESTIGATOR)
    assert cohort.outcomes[patient.id] == "no_dlt"
