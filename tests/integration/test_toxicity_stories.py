"""Toxicity management stories per regimen: AE → recommendation → action → resumption."""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.application import DoseLedger
from domain.ae_report import SkinAssessment
from domain.errors import CommandRefused
from domain.protocol import protocol_from_mapping, template
from support import INVESTIGATOR, ae, at_level, day, dosing


def test_cpk_grade_3_held_recovers_within_21_days_and_resumes_at_same_dose(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(
        ledger, pid, "CPK increased", None, 40, measurement={"value": 1500, "uln": 200}
    )  # 7.5 x ULN: grade 3
    rec = recorded["recommendation"]
    assert recorded["grade"] == 3
    assert (rec["action"], rec["resume"], rec["resume_when_grade_at_most"], rec["within_days"]) == (
        "withhold",
        "same",
        1,
        21,
    )
    assert rec["rule_set"] == "avutometinib-combination" and rec["rule_set_version"]
    ae_id = UUID(recorded["ae_id"])
    state = ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    assert state["dosing"] == "withheld"
    assert state["hold"]["deadline"] == day(61).isoformat()
    with pytest.raises(CommandRefused, match="withheld"):
        ledger.administer_dose(pid, day(41), INVESTIGATOR)
    resume = ledger.change_ae_grade(pid, ae_id, 1, day(54), INVESTIGATOR)
    assert resume is not None and (resume["action"], resume["resume"]) == ("resume", "same")
    state = ledger.record_dose_action(pid, "resume", day(55), INVESTIGATOR)
    assert state["dosing"] == "on treatment"
    assert state["doses"][0] == "defactinib 200 mg BID"
    ledger.administer_dose(pid, day(56), INVESTIGATOR)


def test_cpk_not_recovered_in_21_days_recommends_discontinuing_both_drugs(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(ledger, pid, "CPK increased", 4, 40)
    assert (recorded["recommendation"]["action"], recorded["recommendation"]["resume"]) == (
        "withhold",
        "reduced",
    )
    ae_id = UUID(recorded["ae_id"])
    ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    assert ledger.review_hold(pid, day(61)) is None  # deadline day itself: still in time
    late = ledger.review_hold(pid, day(62))
    assert late is not None
    assert (late["action"], late["rule"], late["discontinue_all_agents"]) == (
        "discontinue",
        "cpk-not-recovered",
        True,
    )
    assert ledger.review_hold(pid, day(63)) is None  # recorded once
    with pytest.raises(CommandRefused, match="cannot be resumed") as refused:
        ledger.record_dose_action(pid, "resume", day(63), INVESTIGATOR, reason="feels better")
    assert refused.value.rule == "discontinuation_required"
    state = ledger.record_dose_action(pid, "discontinue", day(63), INVESTIGATOR)
    assert state["discontinued_agents"] == ["avutometinib", "defactinib"]
    assert state["dosing"] == "discontinued"
    with pytest.raises(CommandRefused, match="discontinued"):
        ledger.administer_dose(pid, day(64), INVESTIGATOR)


def test_second_grade_3_occurrence_resumes_at_reduced_dose_then_ladder_bottom_discontinues(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    first = ae(ledger, pid, "Fatigue", 3, 35)
    assert (first["recommendation"]["action"], first["recommendation"]["resume"]) == (
        "withhold",
        "same",
    )
    ledger.record_dose_action(pid, "hold", day(35), INVESTIGATOR, ae_id=UUID(first["ae_id"]))
    ledger.change_ae_grade(pid, UUID(first["ae_id"]), 0, day(40), INVESTIGATOR)
    ledger.record_dose_action(pid, "resume", day(41), INVESTIGATOR)

    second = ae(ledger, pid, "Fatigue", 3, 50)
    rec = second["recommendation"]
    assert (rec["action"], rec["resume"], rec["rule"]) != (
        "withhold",
        "same",
        first["recommendation"]["rule"],
    )
    assert (rec["action"], rec["resume"]) == ("withhold", "reduced")
    ledger.record_dose_action(pid, "hold", day(50), INVESTIGATOR, ae_id=UUID(second["ae_id"]))
    ledger.change_ae_grade(pid, UUID(second["ae_id"]), 1, day(55), INVESTIGATOR)
    state = ledger.record_dose_action(pid, "resume", day(56), INVESTIGATOR)
    assert state["doses"][0] == "defactinib 200 mg QD"  # the bottom of the ladder

    rash = ae(ledger, pid, "Rash acneiform", 3, 70)  # would resume reduced: none is left
    assert rash["recommendation"]["action"] == "discontinue"
    assert rash["recommendation"]["discontinue_all_agents"] is True
    with pytest.raises(CommandRefused, match="bottom of the reduction ladder"):
        ledger.record_dose_action(pid, "reduce", day(70), INVESTIGATOR, reason="try anyway")
    state = ledger.record_dose_action(pid, "discontinue", day(70), INVESTIGATOR)
    assert state["discontinued_agents"] == ["avutometinib", "defactinib"]


@pytest.mark.parametrize(
    "template_id", ["defactinib-paclitaxel", "defactinib-pembrolizumab-gemcitabine"]
)
def test_400_mg_regimen_grade_3_resumes_at_200_mg_bid_then_200_mg_qd_then_discontinues(
    ledger: DoseLedger, template_id: str
) -> None:
    protocol = template(template_id)
    top = protocol.num_levels
    _, (pid,) = dosing(ledger, at_level(template_id, top))
    assert ledger.patient(pid)["doses"][0] == "defactinib 400 mg BID"
    recorded = ae(
        ledger,
        pid,
        "Alanine aminotransferase increased",
        None,
        30,
        measurement={"value": 280, "uln": 40},
    )  # 7 x ULN: grade 3
    rec = recorded["recommendation"]
    assert (rec["action"], rec["resume"], rec["resume_when_grade_at_most"]) == (
        "withhold",
        "reduced",
        1,
    )
    assert rec["rule_set"] == "defactinib-400-bid"
    ae_id = UUID(recorded["ae_id"])
    ledger.record_dose_action(pid, "hold", day(30), INVESTIGATOR, ae_id=ae_id)
    ledger.change_ae_grade(pid, ae_id, 1, day(37), INVESTIGATOR)
    state = ledger.record_dose_action(pid, "resume", day(38), INVESTIGATOR)
    assert state["doses"][0] == "defactinib 200 mg BID"
    neutropenia = ae(ledger, pid, "Neutrophil count decreased", 3, 45)
    assert neutropenia["recommendation"]["action"] == "continue"  # haematological: review only
    diarrhea = ae(ledger, pid, "Diarrhea", 3, 60)
    assert (diarrhea["recommendation"]["action"], diarrhea["recommendation"]["resume"]) == (
        "withhold",
        "reduced",
    )
    _hold_and_resume(ledger, pid, UUID(diarrhea["ae_id"]), 60)
    assert ledger.patient(pid)["doses"][0] == "defactinib 200 mg QD"
    _discontinue_defactinib_at_the_bottom(ledger, pid, 80)


def _hold_and_resume(ledger: DoseLedger, pid: UUID, ae_id: UUID, on: int) -> None:
    ledger.record_dose_action(pid, "hold", day(on), INVESTIGATOR, ae_id=ae_id)
    ledger.change_ae_grade(pid, ae_id, 1, day(on + 5), INVESTIGATOR)
    ledger.record_dose_action(pid, "resume", day(on + 6), INVESTIGATOR)


def _discontinue_defactinib_at_the_bottom(ledger: DoseLedger, pid: UUID, on: int) -> None:
    again = ae(ledger, pid, "Fatigue", 3, on)
    assert again["recommendation"]["action"] == "discontinue"
    assert again["recommendation"]["discontinue_all_agents"] is False
    state = ledger.record_dose_action(pid, "discontinue", day(on), INVESTIGATOR)
    assert state["discontinued_agents"] == ["defactinib"]
    assert state["dosing"] == "on treatment"
    ledger.administer_dose(pid, day(on + 1), INVESTIGATOR)  # the partner drugs continue


@pytest.mark.parametrize(
    "template_id", ["defactinib-paclitaxel", "defactinib-pembrolizumab-gemcitabine"]
)
def test_400_mg_regimen_patient_starting_at_200_mg_bid_has_a_step_down(
    ledger: DoseLedger, template_id: str
) -> None:
    _, (pid,) = dosing(ledger, template(template_id))  # level 1: defactinib 200 mg BID
    assert ledger.patient(pid)["doses"][0] == "defactinib 200 mg BID"
    nausea = ae(ledger, pid, "Nausea", 3, 10)
    rec = nausea["recommendation"]
    assert (rec["action"], rec["resume"]) == ("withhold", "reduced")
    _hold_and_resume(ledger, pid, UUID(nausea["ae_id"]), 10)
    assert ledger.patient(pid)["doses"][0] == "defactinib 200 mg QD"
    _discontinue_defactinib_at_the_bottom(ledger, pid, 30)


def test_blurred_vision_from_bcva_holds_until_back_to_baseline(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(ledger, pid, "Blurred vision", None, 20, eye="left", bcva="20/50")
    rec = recorded["recommendation"]
    assert (rec["action"], rec["resume"]) == ("withhold", "same")
    ae_id = UUID(recorded["ae_id"])
    state = ledger.record_dose_action(pid, "hold", day(20), INVESTIGATOR, ae_id=ae_id)
    assert state["hold"]["resume_condition"] == "BCVA back to baseline"
    assert ledger.change_ae_grade(pid, ae_id, None, day(27), INVESTIGATOR, bcva="20/30") is None
    resume = ledger.change_ae_grade(pid, ae_id, None, day(30), INVESTIGATOR, bcva="20/25")
    assert resume is not None and resume["action"] == "resume"
    ledger.record_dose_action(pid, "resume", day(31), INVESTIGATOR)


def test_departing_from_a_recommendation_needs_a_reason(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(ledger, pid, "Rash acneiform", 2, 20)
    assert recorded["recommendation"]["action"] == "continue"
    with pytest.raises(CommandRefused, match="departs from the recommendation"):
        ledger.record_dose_action(pid, "hold", day(20), INVESTIGATOR)
    state = ledger.record_dose_action(
        pid, "hold", day(20), INVESTIGATOR, reason="patient asked for a break"
    )
    assert state["hold"]["resume_condition"] == "investigator's decision"
    with pytest.raises(CommandRefused, match="a reason is required"):
        ledger.record_dose_action(pid, "resume", day(25), INVESTIGATOR, at="reduced")
    state = ledger.record_dose_action(pid, "resume", day(25), INVESTIGATOR, reason="rash settled")
    assert state["doses"][0] == "defactinib 200 mg BID"


def test_intolerable_grade_2_rash_recommends_a_reduction(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(ledger, pid, "Rash acneiform", 2, 20, intolerable=True)
    assert recorded["recommendation"]["action"] == "reduce"
    state = ledger.record_dose_action(
        pid, "reduce", day(21), INVESTIGATOR, ae_id=UUID(recorded["ae_id"])
    )
    assert state["doses"] == ["defactinib 200 mg QD", "avutometinib 3.2 mg twice weekly"]
    assert state["requirements"] == []


def test_skin_assessments_feed_the_rash_rules(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    mild = ledger.record_skin_assessment(
        pid, SkinAssessment(day(8), "face and chest", 8, "mild"), INVESTIGATOR
    )
    assert mild["grade"] == 1 and mild["recommendation"]["action"] == "continue"
    severe = ledger.record_skin_assessment(
        pid, SkinAssessment(day(15), "face, chest and back", 35, "moderate"), INVESTIGATOR
    )
    assert severe["grade"] == 3
    assert (severe["recommendation"]["action"], severe["recommendation"]["resume"]) == (
        "withhold",
        "reduced",
    )
    unexplained = SkinAssessment(day(16), "face, chest and back", 35, "mild", ctcae_version="4.0")
    head = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as refused:  # the protocol grades rash under v5.0
        ledger.record_skin_assessment(pid, unexplained, INVESTIGATOR)
    assert (refused.value.rule, refused.value.field) == ("ctcae_version_differs", "ctcae_version")
    assert ledger.recorder.max_notification_id() == head
    v4 = ledger.record_skin_assessment(
        pid,
        SkinAssessment(
            day(16),
            "face, chest and back",
            35,
            "mild",
            ctcae_version="4.0",
            ctcae_version_reason="the site's dermatologist grades under v4.0",
        ),
        INVESTIGATOR,
    )
    assert v4["grade"] == 3  # under v4.0 >30 % BSA is grade 3 whatever the symptoms
    patient = ledger.patient(pid)
    rash = [a for a in patient["adverse_events"] if a["term"] == "Rash acneiform"]
    assert len(rash) == 1 and rash[0]["worst_grade"] == 3
    cleared = ledger.record_skin_assessment(
        pid, SkinAssessment(day(30), "", 0, "none"), INVESTIGATOR
    )
    assert cleared["grade"] == 0
    assert ledger.patient(pid)["adverse_events"][0]["resolved_on"] == day(30).isoformat()


@pytest.mark.parametrize(
    "template_id", ["defactinib-paclitaxel", "defactinib-pembrolizumab-gemcitabine"]
)
@pytest.mark.parametrize("term", ["Rash acneiform", "Keratitis"])
def test_400_mg_regimen_grade_4_rash_or_keratitis_discontinues_defactinib(
    ledger: DoseLedger, template_id: str, term: str
) -> None:
    top = template(template_id).num_levels
    _, (pid,) = dosing(ledger, at_level(template_id, top))
    rec = ae(ledger, pid, term, 4, 20)["recommendation"]
    assert (rec["action"], rec["resume"], rec["discontinue_all_agents"]) == (
        "discontinue",
        None,
        False,
    )
    assert (rec["rule_set"], rec["rule_set_version"]) == ("defactinib-400-bid", "2.0")
    state = ledger.record_dose_action(pid, "discontinue", day(20), INVESTIGATOR)
    assert state["discontinued_agents"] == ["defactinib"]


def test_400_mg_regimen_cpk_grade_3_resumes_at_the_same_dose(ledger: DoseLedger) -> None:
    template_id = "defactinib-paclitaxel"
    _, (pid,) = dosing(ledger, at_level(template_id, template(template_id).num_levels))
    recorded = ae(ledger, pid, "CPK increased", None, 30, measurement={"value": 1500, "uln": 200})
    rec = recorded["recommendation"]
    assert (rec["action"], rec["resume"], rec["within_days"]) == ("withhold", "same", 21)
    ae_id = UUID(recorded["ae_id"])
    ledger.record_dose_action(pid, "hold", day(30), INVESTIGATOR, ae_id=ae_id)
    ledger.change_ae_grade(pid, ae_id, 1, day(40), INVESTIGATOR)
    state = ledger.record_dose_action(pid, "resume", day(41), INVESTIGATOR)
    assert state["doses"][0] == "defactinib 400 mg BID"


def test_a_protocol_that_pins_rash_to_ctcae_v4_grades_every_assessment_under_it(
    ledger: DoseLedger,
) -> None:
    data = template("defactinib-avutometinib").model_dump(mode="json")
    data["ctcae_versions"] = {"Rash acneiform": "4.0"}
    _, (pid,) = dosing(ledger, protocol_from_mapping(data))
    # 35 % BSA with mild symptoms: grade 2 under v5.0, grade 3 (a DLT) under v4.0.
    first = ledger.record_skin_assessment(
        pid, SkinAssessment(day(8), "face, chest and back", 35, "mild"), INVESTIGATOR
    )
    assert first["grade"] == 3
    state = ledger.patient(pid)
    assert state["adverse_events"][0]["worst_grade"] == 3
    assert state["dlt_outcome"] == "dlt"
