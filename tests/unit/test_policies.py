"""Cross-aggregate policies: a patient's window and its SRC adjudications reach the cohort."""

from __future__ import annotations

import datetime as dt
from uuid import UUID, uuid4

from domain.ctcae import CtcaeCatalogue
from domain.patient import Patient
from domain.policies import adjudicate_dlt_candidate, apply_dlt_verdict, apply_window_outcome
from domain.protocol import template
from domain.trial import Trial
from support import DAY0, INVESTIGATOR, SCHEDULE, SRC, TODAY, new_patient

CATALOGUE = CtcaeCatalogue.load()
PROTOCOL = template("defactinib-avutometinib")


def on(n: int) -> dt.date:
    """Study day n (day 1 is the first dose)."""
    return DAY0 + dt.timedelta(days=n - 1)


def enrolled() -> tuple[Trial, Patient]:
    trial = Trial(
        id=uuid4(), protocol=PROTOCOL.model_dump(mode="json"), name="t", actor=SRC.as_record()
    )
    patient = new_patient(trial_id=trial.id)
    trial.enrol(patient.id, patient.subject_id, "S01", INVESTIGATOR)
    patient.record_baseline_eye_exam(on(0), "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(on(0), "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(on(1), INVESTIGATOR, today=TODAY)
    return trial, patient


def candidate(trial: Trial, patient: Patient) -> UUID:
    ae_id = uuid4()
    patient.record_adverse_event(
        ae_id,
        CATALOGUE.lookup("Diarrhea"),
        3,
        on(10),
        INVESTIGATOR,
        today=TODAY,
        protocol=PROTOCOL,
        attribution="possible",
    )
    apply_dlt_verdict(trial, patient, ae_id, INVESTIGATOR)
    assert trial.cohorts[0].candidates == {patient.id: [ae_id]}
    return ae_id


def test_a_window_closed_without_a_dlt_is_the_cohorts_outcome_too() -> None:
    trial, patient = enrolled()
    patient.close_dlt_window(
        "no_dlt", on(28), INVESTIGATOR, today=TODAY, schedule=SCHEDULE, min_dose_fraction=0.75
    )
    apply_window_outcome(trial, patient, on(28), INVESTIGATOR)
    assert trial.cohorts[0].outcomes == {patient.id: "no_dlt"}


def test_a_confirmed_candidate_is_a_dlt_on_the_patient_and_the_cohort() -> None:
    trial, patient = enrolled()
    ae_id = candidate(trial, patient)
    adjudicate_dlt_candidate(trial, patient, ae_id, True, SRC, reason="not controlled")
    assert patient.dlt_outcome == "dlt"
    assert trial.cohorts[0].outcomes == {patient.id: "dlt"}
    assert not trial.cohorts[0].candidates


def test_a_rejected_candidate_leaves_both_candidate_lists_and_the_window_open() -> None:
    trial, patient = enrolled()
    ae_id = candidate(trial, patient)
    adjudicate_dlt_candidate(trial, patient, ae_id, False, SRC, reason="controlled in 48 h")
    assert patient.dlt_outcome is None and not patient.dlt_candidates
    assert not trial.cohorts[0].candidates and not trial.cohorts[0].outcomes


def test_a_confirmed_candidate_reached_by_a_later_grade_change_is_dated_when_it_was_reached() -> (
    None
):
    """The DLT is dated when the DLT criterion was met (domain §6: a worsening to a DLT grade
    counts exactly as if reported at that grade), on the patient and the cohort alike."""
    trial, patient = enrolled()
    ae_id = uuid4()
    diarrhea = CATALOGUE.lookup("Diarrhea")
    patient.record_adverse_event(
        ae_id,
        diarrhea,
        2,
        on(5),
        INVESTIGATOR,
        today=TODAY,
        protocol=PROTOCOL,
        attribution="possible",
    )
    change = patient.change_ae_grade(
        ae_id, 3, on(12), INVESTIGATOR, today=TODAY, protocol=PROTOCOL, term=diarrhea
    )
    assert change.dlt is not None and ae_id in patient.dlt_candidates
    apply_dlt_verdict(trial, patient, ae_id, INVESTIGATOR)
    trial.collect_events()
    patient.collect_events()

    adjudicate_dlt_candidate(trial, patient, ae_id, True, SRC, reason="not controlled")

    [closed] = [e for e in patient.collect_events() if hasattr(e, "clinical_date")]
    [observed] = [e for e in trial.collect_events() if hasattr(e, "clinical_date")]
    assert type(observed).__name__ == "DLTObserved"
    assert closed.clinical_date == observed.clinical_date == on(12)
