"""Aggregates taken from the cache are copies: changing one never changes the cached original."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bootstrap import build_ledger
from adapters.persistence.caching import CopyingRepository
from adapters.persistence.state_copy import clone_aggregate
from domain.ctcae import CtcaeCatalogue
from domain.protocol import template
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary
from support import (
    ADMIN,
    DAY0,
    INVESTIGATOR,
    TODAY,
    follow_recommendation,
    new_patient,
    new_trial,
    run_cohort,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("NNNT"), min_size=3, max_size=12), st.sampled_from("NTX"))
def test_commands_on_a_copied_trial_leave_the_original_alone(letters: list[str], last: str) -> None:
    trial = new_trial(3)
    while letters and trial.status == "escalating":
        run_cohort(trial, "".join(letters[:3]).ljust(3, "N"))
        letters = letters[3:]
        follow_recommendation(trial)
    before = trial_summary(trial)
    clone = clone_aggregate(trial)
    assert trial_summary(clone) == before
    if clone.status == "escalating":
        run_cohort(clone, last)
        assert trial_summary(clone) != before
    assert trial_summary(trial) == before
    assert clone.pending_events is not trial.pending_events


def test_commands_on_a_copied_patient_leave_the_original_alone() -> None:
    protocol = template("defactinib-avutometinib")
    patient = new_patient(subject_id="S-1")
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/20", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(DAY0, "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    cpk = CtcaeCatalogue.load().lookup("CPK increased")
    ae_id = uuid4()
    patient.record_adverse_event(
        ae_id,
        cpk,
        3,
        DAY0 + dt.timedelta(days=3),
        INVESTIGATOR,
        protocol=protocol,
        attribution="unlikely",
        today=TODAY,
    )
    patient.hold_dose(DAY0 + dt.timedelta(days=3), INVESTIGATOR, ae_id=ae_id, today=TODAY)
    before = patient_summary(patient)
    clone = clone_aggregate(patient)
    clone.change_ae_grade(
        ae_id,
        1,
        DAY0 + dt.timedelta(days=9),
        INVESTIGATOR,
        protocol=protocol,
        term=cpk,
        today=TODAY,
    )
    clone.resume_dose(DAY0 + dt.timedelta(days=10), INVESTIGATOR, protocol=protocol, today=TODAY)
    assert patient_summary(clone) != before
    assert patient_summary(patient) == before
    assert patient.adverse_events[ae_id].grade == 3


def test_the_ledger_hands_out_copies_of_its_cached_aggregates() -> None:
    ledger = build_ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert isinstance(ledger.repository, CopyingRepository)
        trial_id = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
        first, second = (ledger.repository.get(trial_id) for _ in range(2))
        assert first is not second and vars(first) == vars(second)
        first.cohorts[0].patients.append(uuid4())  # as a refused command might leave it
        assert ledger.repository.get(trial_id).cohorts[0].patients == []
        assert trial_summary(ledger.repository.get(trial_id)) == trial_summary(second)
    finally:
        ledger.close()


def test_copies_containers_and_mutable_dataclasses_and_shares_immutable_values() -> None:
    from dataclasses import dataclass, field

    from adapters.persistence.state_copy import copy_state
    from domain.actors import Actor

    @dataclass
    class Box:
        items: list[object] = field(default_factory=list)
        tags: set[str] = field(default_factory=set)

    class Named(dict[str, object]):
        pass

    frozen = Actor(user_id="u", role="investigator")
    state = {"box": Box([{"n": [1, 2]}, frozen], {"a"}), "named": Named(x=[1]), "t": (1, [2])}
    clone = copy_state(state)
    assert clone == state
    assert clone["box"] is not state["box"] and clone["box"].items is not state["box"].items
    assert clone["box"].items[0]["n"] is not state["box"].items[0]["n"]
    assert clone["box"].tags is not state["box"].tags
    assert clone["box"].items[1] is frozen  # frozen values are shared
    assert type(clone["named"]) is dict and clone["named"]["x"] is not state["named"]["x"]
    assert clone["t"] is state["t"]  # tuples are taken as immutable, as before
    clone["box"].items[0]["n"].append(3)
    assert state["box"].items[0]["n"] == [1, 2]
