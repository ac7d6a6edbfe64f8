"""A whole trial through the application service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.demo import DEMO_NAME, find_demo_trial, record_demo_trial
from adapters.persistence.environment import persistence_env
from domain.errors import CommandRefused
from domain.protocol import template
from domain.trial import Trial
from support import (
    ADMIN,
    DAY0,
    INVESTIGATOR,
    SRC,
    audit_export,
    old_pembrolizumab_gemcitabine_template,
    protocol_with,
    read_models_of,
)


class Story:
    """Drives a trial and remembers the state after every command, by aggregate version."""

    def __init__(self, ledger: DoseLedger, trial_id: UUID) -> None:
        self.ledger = ledger
        self.trial_id = trial_id
        self.trial_states: dict[int, dict[str, Any]] = {}
        self.patient_states: dict[UUID, dict[int, dict[str, Any]]] = {}
        self.snapshot()

    def snapshot(self, patient_id: UUID | None = None) -> None:
        state = self.ledger.trial(self.trial_id)
        self.trial_states[state["version"]] = state
        if patient_id is not None:
            patient = self.ledger.patient_aggregate(patient_id)
            self.patient_states.setdefault(patient_id, {})[patient.version] = patient_view(patient)

    def cohort(self, letters: str, start: dt.date) -> None:
        for letter in letters:
            pid = self.ledger.enrol_patient(self.trial_id, "S07", INVESTIGATOR, enrolment_date=DAY0)
            self.snapshot(pid)
            self.ledger.record_baseline_eye_exam(pid, start, "20/25", "6/6", INVESTIGATOR)
            self.snapshot(pid)
            self.ledger.record_baseline_skin_exam(pid, start, "eczema, left forearm", INVESTIGATOR)
            self.snapshot(pid)
            self.ledger.start_dosing(pid, start, INVESTIGATOR)
            self.snapshot(pid)
            if letter == "T":
                self.ledger.record_dlt_window_outcome(
                    pid,
                    "dlt",
                    start + dt.timedelta(days=10),
                    INVESTIGATOR,
                    description="Grade 3 ALT increased",
                )
            elif letter == "X":
                self.ledger.record_dlt_window_outcome(
                    pid,
                    "not_evaluable",
                    start + dt.timedelta(days=5),
                    INVESTIGATOR,
                    reason="progressive disease, left the study on day 6",
                )
            else:
                self.ledger.record_dlt_window_outcome(
                    pid,
                    "no_dlt",
                    start + dt.timedelta(days=40),
                    INVESTIGATOR,
                    doses_taken_fraction=1.0,
                )
            self.snapshot(pid)

    def decide(self, expected: str) -> None:
        rec = self.ledger.trial(self.trial_id)["recommendation"]
        assert rec["action"] == expected
        cohort = len(self.ledger.trial(self.trial_id)["cohorts"])
        self.ledger.sign_decision(
            self.trial_id, cohort, rec["action"], SRC, meaning="approval", mtd_level=rec["mtd"]
        )
        self.snapshot()


def patient_view(patient: Any) -> dict[str, Any]:
    return {
        "status": patient.status,
        "level": patient.level,
        "first_dose": patient.first_dose_date,
        "eye_exam": patient.baseline_eye_exam,
        "outcome": patient.dlt_outcome,
    }


def test_deescalation_story_and_every_past_version(ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
    story = Story(ledger, trial_id)
    story.cohort("NNN", DAY0)
    story.decide("escalate")
    story.cohort("TNXN", DAY0 + dt.timedelta(days=45))
    story.decide("expand")
    story.cohort("NTN", DAY0 + dt.timedelta(days=90))
    story.decide("de-escalate")
    story.cohort("NNN", DAY0 + dt.timedelta(days=135))
    story.decide("declare_mtd")

    final = ledger.trial(trial_id)
    assert (final["status"], final["mtd"]) == ("mtd_declared", 1)
    assert final["outcomes"] == "1NNN 2TNN 2NTN 1NNN"
    assert [lvl["patients"] for lvl in final["levels"]] == [6, 6]
    assert [lvl["dlts"] for lvl in final["levels"]] == [0, 2]
    with read_models_of(ledger) as read_models:
        listed = read_models.queries.trial_list()
    assert listed == (
        [
            {
                "id": str(trial_id),
                "name": final["name"],
                "protocol": "defactinib-avutometinib",
                "status": "mtd_declared",
                "current_level": 1,
                "mtd": 1,
            }
        ],
        None,
    )

    # Reloading at any earlier version gives the state it had then.
    for version, state in story.trial_states.items():
        assert ledger.trial(trial_id, version=version) == state
    for patient_id, states in story.patient_states.items():
        for version, state in states.items():
            past = ledger.patient_aggregate(patient_id, version=version)
            assert patient_view(past) == state


def test_classic_story_stops_at_the_level_below_two_dlts(ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(protocol_with(4, deescalate=False), ADMIN, name="classic")
    story = Story(ledger, trial_id)
    story.cohort("NNN", DAY0)
    story.decide("escalate")
    story.cohort("NNT", DAY0)
    story.decide("expand")
    story.cohort("NNN", DAY0)
    story.decide("escalate")
    story.cohort("TNT", DAY0)
    story.decide("declare_mtd")
    assert ledger.trial(trial_id)["mtd"] == 2


def test_demo_is_recorded_once_and_found_again(ledger: DoseLedger) -> None:
    with read_models_of(ledger) as read_models:
        assert find_demo_trial(read_models.queries) is None
    trial_id = record_demo_trial(ledger)
    with read_models_of(ledger) as read_models:
        assert find_demo_trial(read_models.queries) == trial_id
    summary = ledger.trial(trial_id)
    assert summary["name"] == DEMO_NAME
    assert summary["mtd"] == 1
    decisions = [c["decision"] for c in summary["cohorts"]]
    assert decisions == ["escalate", "expand", "de-escalate", "declare_mtd"]
    assert sum(c["dlts"] for c in summary["cohorts"]) == 2
    assert sum(c["not_evaluable"] for c in summary["cohorts"]) == 1


def test_a_trial_stored_with_the_old_unordered_template_loads_and_goes_on(
    ledger: DoseLedger, database_url: str
) -> None:
    # The Registered event exactly as trials stored it before dose levels had to be ordered.
    trial = Trial(
        id=uuid4(),
        protocol=old_pembrolizumab_gemcitabine_template(),
        name="old",
        actor=ADMIN.as_record(),
    )
    ledger.save(trial)
    fresh = build_ledger(env=persistence_env(database_url))  # decodes from the store, no cache
    try:
        state = fresh.trial(trial.id)
        assert state["name"] == "old"
        assert (
            fresh.trial_aggregate(trial.id).protocol.dose_level(3).dose_of("gemcitabine").amount
            == 1000
        )
        pid = fresh.enrol_patient(trial.id, "S01", INVESTIGATOR)
        assert fresh.patient(pid)["doses"][2] == "gemcitabine 600 mg/m2 days 1 and 8"
    finally:
        fresh.close()


@pytest.mark.parametrize("deescalate", [False, True])
def test_two_dlts_at_starting_level_2_de_escalate_to_level_1(
    ledger: DoseLedger, deescalate: bool
) -> None:
    protocol = protocol_with(3, deescalate=deescalate, starting_level=2)
    trial_id = ledger.register_trial(protocol, ADMIN, name="started at 2")
    story = Story(ledger, trial_id)
    story.cohort("TTN", DAY0)
    story.decide("de-escalate")  # was declare_mtd at level 1, then refused (mtd_untested)
    assert ledger.trial(trial_id)["current_level"] == 1
    story.cohort("NNN", DAY0 + dt.timedelta(days=45))
    if deescalate:
        story.decide("expand")
        story.cohort("NNN", DAY0 + dt.timedelta(days=90))
    story.decide("declare_mtd")
    final = ledger.trial(trial_id)
    assert (final["status"], final["mtd"]) == ("mtd_declared", 1)
    assert final["outcomes"] == ("2TTN 1NNN 1NNN" if deescalate else "2TTN 1NNN")


def test_the_src_cannot_escalate_after_the_mtd_was_exceeded(ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(protocol_with(3, deescalate=True), ADMIN, name="departures")
    story = Story(ledger, trial_id)
    story.cohort("NNN", DAY0)
    story.decide("escalate")
    story.cohort("TTN", DAY0 + dt.timedelta(days=45))
    before = ledger.trial(trial_id)
    for decision, mtd_level, rule in [
        ("escalate", None, "escalation_after_mtd_exceeded"),
        ("declare_mtd", 2, "mtd_not_tolerated"),
    ]:
        with pytest.raises(CommandRefused) as caught:
            ledger.sign_decision(
                trial_id,
                2,
                decision,
                SRC,
                mtd_level=mtd_level,
                reason="the DLTs look unrelated to the study drug",
            )
        assert caught.value.rule == rule
    assert ledger.trial(trial_id) == before  # nothing recorded
    story.decide("de-escalate")
    story.cohort("NNN", DAY0 + dt.timedelta(days=90))
    with pytest.raises(CommandRefused) as caught:
        ledger.sign_decision(trial_id, 3, "escalate", SRC, reason="try level 2 again")
    assert caught.value.rule == "escalation_after_mtd_exceeded"
    story.decide("declare_mtd")
    assert ledger.trial(trial_id)["mtd"] == 1


def test_a_boin_trial_story_through_the_service_read_models_and_audit_export(
    ledger: DoseLedger,
) -> None:
    trial_id = ledger.register_trial(template("defactinib-avutometinib-boin"), ADMIN)
    story = Story(ledger, trial_id)
    story.cohort("NNN", DAY0)
    story.decide("escalate")
    story.cohort("NTN", DAY0 + dt.timedelta(days=45))
    # The top of two levels: escalating is refused, and nothing is appended.
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused, match="levels are 1-2"):
        ledger.sign_decision(trial_id, 2, "escalate", SRC, meaning="approval", reason="r")
    assert ledger.recorder.max_notification_id() == before
    # The SRC packet names the design's own rule: the boundaries in force at DL2's 3 patients.
    rule = dict(ledger.src_packet(trial_id).content["recommendation"]["rule"])
    assert rule["counts"] == "1/3 with a DLT at DL2" and rule["rule"] == "stay DL2"
    assert rule["boundaries in force"] == (
        "with 3 evaluated at DL2: escalate with at most 0, de-escalate with at least 2, "
        "eliminate with at least 3 DLTs"
    )
    assert rule["eliminated levels"] == "none"
    story.decide("stay")
    for letters in ("TNN", "NNN"):
        story.cohort(letters, DAY0 + dt.timedelta(days=90))
        story.decide("stay")
    story.cohort("NNT", DAY0 + dt.timedelta(days=135))
    story.decide("declare_mtd")  # 12 patients at a stay: n_earlystop; MTD by isotonic estimates

    final = ledger.trial(trial_id)
    assert (final["status"], final["mtd"]) == ("mtd_declared", 2)
    assert [c["origin"] for c in final["cohorts"]] == [
        "start",
        "escalation",
        "stay",
        "stay",
        "stay",
    ]
    assert final["design"]["kind"] == "boin" and final["design"]["eliminated"] == []
    assert [lvl["estimate"] for lvl in final["levels"]] == [0.0161, 0.2521]
    assert final["levels"][1]["boundaries"] == {
        "escalate_at_most": 2,
        "deescalate_at_least": 5,
        "eliminate_at_least": 7,
    }
    for version, state in story.trial_states.items():
        assert ledger.trial(trial_id, version=version) == state
    with read_models_of(ledger) as read_models:
        summary = read_models.queries.cohort_summary(trial_id)
        assert read_models.check().equal
    assert summary["design"] == final["design"]
    assert summary["levels"] == final["levels"]
    assert [c["recommendation"] for c in summary["cohorts"]] == [
        "escalate",
        "stay",
        "stay",
        "stay",
        "declare_mtd",
    ]
    ended = dict(ledger.src_packet(trial_id).content["recommendation"]["rule"])
    assert ended["isotonic estimates"].startswith("DL1 0.016, DL2 0.252 (target 0.3")
    report = audit_export(ledger, trial_id, "html")
    assert "Design: boin (target 0.3" in report and "isotonic estimate" in report
    csv = audit_export(ledger, trial_id, "csv")
    assert "boin recommended stay (1 DLTs in 3: escalate at most 0" in csv


def test_a_trial_registered_with_a_design_without_kind_loads_as_a_3_3(
    ledger: DoseLedger, database_url: str
) -> None:
    protocol = template("defactinib-avutometinib").model_dump(mode="json")
    protocol["design"] = {"deescalate": False, "starting_level": 1}  # before designs had a kind
    trial = Trial(id=uuid4(), protocol=protocol, name="no kind", actor=ADMIN.as_record())
    ledger.save(trial)
    fresh = build_ledger(env=persistence_env(database_url))  # decodes from the store, no cache
    try:
        loaded = fresh.trial_aggregate(trial.id)
        assert loaded.protocol.design.kind == "3+3"
        assert fresh.trial(trial.id)["deescalate"] is False
        pid = fresh.enrol_patient(trial.id, "S01", INVESTIGATOR)
        assert fresh.patient(pid)["level"] == 1
    finally:
        fresh.close()
