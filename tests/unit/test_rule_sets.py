"""Rule sets as data: the shipped sets, custom sets refused naming the rule, custom sets in use."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import InvalidInput, NotFound
from domain.protocol import TEMPLATE_IDS, protocol_from_mapping, template
from domain.rules import (
    RULE_SET_IDS,
    AdverseEventFacts,
    load_rule_set,
    recommend_dose,
    recommend_not_recovered,
    rule_set_for,
    rule_set_from_mapping,
)

Data = dict[str, Any]


def test_shipped_sets_load_with_stable_ids_and_end_in_a_catch_all() -> None:
    assert RULE_SET_IDS == ("avutometinib-combination", "defactinib-400-bid")
    versions = {"avutometinib-combination": "1.0", "defactinib-400-bid": "2.0"}
    for rule_set_id in RULE_SET_IDS:
        rule_set = load_rule_set(rule_set_id)
        assert (rule_set.id, rule_set.version) == (rule_set_id, versions[rule_set_id])
        assert rule_set.rules[-1].unconditional and rule_set.rules[-1].action == "continue"
        assert rule_set.rule(rule_set.rules[0].id) is rule_set.rules[0]
        assert all(rule.description for rule in rule_set.rules)
    assert len(load_rule_set("avutometinib-combination").rules) == 22
    assert len(load_rule_set("defactinib-400-bid").rules) == 18


def test_the_400_mg_set_keeps_the_ids_stored_recommendations_name() -> None:
    # Stored recommendations and open holds name rules of version 1.0 by id.
    ids = {rule.id for rule in load_rule_set("defactinib-400-bid").rules}
    assert {"grade-5", "haematological", "non-haematological-g3-g4", "otherwise-continue"} <= ids


def test_protocol_defaults_are_marked() -> None:
    defaults = {r.id for r in load_rule_set("avutometinib-combination").rules if r.protocol_default}
    assert defaults == {
        "grade-5",
        "cpk-not-recovered",
        "conjunctivitis-g2",
        "conjunctivitis-g3",
        "keratitis-g2",
        "keratitis-g3",
        "other-g3-first",
        "otherwise-continue",
    }


def test_every_template_names_a_shipped_set() -> None:
    expected = {
        "defactinib-avutometinib": "avutometinib-combination",
        "defactinib-avutometinib-boin": "avutometinib-combination",
        "defactinib-pembrolizumab-gemcitabine": "defactinib-400-bid",
        "defactinib-paclitaxel": "defactinib-400-bid",
    }
    assert {t: rule_set_for(template(t)).id for t in TEMPLATE_IDS} == expected


def test_shipped_sets_round_trip_through_plain_data() -> None:
    for rule_set_id in RULE_SET_IDS:
        rule_set = load_rule_set(rule_set_id)
        assert rule_set_from_mapping(rule_set.model_dump(mode="json")) == rule_set


def test_unknown_rule_set_and_rule_are_not_found() -> None:
    with pytest.raises(NotFound, match="avutometinib-combination, defactinib-400-bid"):
        load_rule_set("nothing")
    with pytest.raises(NotFound, match="no rule 'nothing'"):
        load_rule_set("defactinib-400-bid").rule("nothing")


# ------------------------------------------------------------------ custom sets


def custom() -> Data:
    """A valid custom set: nausea G2 already withholds."""
    return {
        "id": "my-rules",
        "version": "2",
        "title": "Sponsor rules",
        "rules": [
            {"id": "grade-5", "description": "G5", "grades": [5], "action": "discontinue"},
            {
                "id": "nausea-g2",
                "description": "Nausea G2: withhold until G1.",
                "terms": ["nausea"],
                "grades": [2],
                "action": "withhold",
                "resume": "same",
                "resume_when_grade_at_most": 1,
            },
            {
                "id": "cpk-g3",
                "description": "CPK G3: withhold; same dose if G1 within 14 days.",
                "terms": ["CPK increased"],
                "grades": [3],
                "action": "withhold",
                "resume": "same",
                "resume_when_grade_at_most": 1,
                "within_days": 14,
                "if_not_recovered": "cpk-late",
            },
            {
                "id": "cpk-g4",
                "description": "CPK G4",
                "terms": ["CPK increased"],
                "grades": [4],
                "action": "discontinue",
            },
            {
                "id": "cpk-late",
                "description": "CPK not recovered in time",
                "trigger": "recovery_deadline_passed",
                "terms": ["CPK increased"],
                "action": "discontinue",
            },
            {"id": "rest", "description": "everything else", "action": "continue"},
        ],
    }


def _rule(data: Data, rule_id: str) -> Data:
    found: Data = next(r for r in data["rules"] if r["id"] == rule_id)
    return found


def _set(rule_id: str, **changes: Any) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        rule = _rule(data, rule_id)
        for key, value in changes.items():
            if value is None:
                rule.pop(key, None)
            else:
                rule[key] = value

    return change


def _drop_last(data: Data) -> None:
    data["rules"].pop()


def _catch_all_first(data: Data) -> None:
    data["rules"].insert(0, {"id": "early", "description": "x", "action": "continue"})


def _no_rules(data: Data) -> None:
    data["rules"] = []


def _no_id(data: Data) -> None:
    del data["rules"][1]["id"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("cpk-g4", action="continue", resume="same"),
            "rules.3 (cpk-g4): resume is only for withhold",
        ),
        (_set("nausea-g2", id="grade-5"), "rules.1 (grade-5): duplicate id; rules.0 has it too"),
        (_set("cpk-g4", action="stop"), "rules.3 (cpk-g4): action: Input should be 'continue'"),
        (_drop_last, "rules.4 (cpk-late): the last rule must be a catch-all continue"),
        (_catch_all_first, "rules.0 (early): a rule with no conditions must come last"),
        (
            _set("nausea-g2", grades=[6]),
            "rules.1 (nausea-g2): grades.0: Input should be less than or equal to 5",
        ),
        (
            _set("nausea-g2", grades=[0]),
            "rules.1 (nausea-g2): grades.0: Input should be greater than or equal to 1",
        ),
        (
            _set("nausea-g2", grades=["2"]),
            "rules.1 (nausea-g2): grades.0: Input should be a valid integer",
        ),
        (_set("nausea-g2", grades=[4]), "rules.1 (nausea-g2): grade 4 is not a grade of Nausea"),
        (_set("nausea-g2", grades=[2, 2]), "rules.1 (nausea-g2): grades: a value is listed twice"),
        (_set("cpk-g4", terms=["CPK increase"]), "did you mean 'CPK increased'"),
        (_set("nausea-g2", resume=None), "rules.1 (nausea-g2): withhold needs resume"),
        (_set("nausea-g2", resume_when_grade_at_most=None), "withhold needs a resume condition"),
        (_set("cpk-g4", within_days=21), "rules.3 (cpk-g4): within_days is only for withhold"),
        (_set("cpk-g3", if_not_recovered=None), "within_days needs if_not_recovered"),
        (_set("cpk-g3", if_not_recovered="cpk-g4"), "rules.2 (cpk-g3): if_not_recovered must name"),
        (
            _set("cpk-g3", within_days=None, if_not_recovered=None),
            "rules.4 (cpk-late): never fires",
        ),
        (_set("nausea-g2", occurrence={"min": 3, "max": 2}), "max (2) is below min (3)"),
        (
            _set("nausea-g2", colour="red"),
            "rules.1 (nausea-g2): colour: Extra inputs are not permitted",
        ),
        (_set("nausea-g2", category="blood"), "rules.1 (nausea-g2): category: Input should be"),
        (_set("nausea-g2", bcva=["blurry"]), "rules.1 (nausea-g2): bcva.0: Input should be"),
        (_no_rules, "rules: Tuple should have at least 1 item"),
        (_no_id, "rules.1: id: Field required"),
    ],
)
def test_invalid_custom_set_is_refused_naming_the_rule(
    change: Callable[[Data], None], message: str
) -> None:
    data = custom()
    change(data)
    with pytest.raises(InvalidInput) as caught:
        rule_set_from_mapping(data)
    text = str(caught.value)
    assert text.startswith("rule set my-rules: ")
    assert message in text
    assert "\n" not in text


def test_an_error_message_in_full() -> None:
    data = custom()
    _set("cpk-g4", action="continue", resume="same")(data)
    with pytest.raises(InvalidInput) as caught:
        rule_set_from_mapping(data)
    assert str(caught.value) == "rule set my-rules: rules.3 (cpk-g4): resume is only for withhold"


def test_terms_take_ctcae_spelling_and_match_in_any_case() -> None:
    rule_set = rule_set_from_mapping(custom())
    assert rule_set.rule("nausea-g2").terms == ("Nausea",)
    facts = AdverseEventFacts(term="NAUSEA", grade=2, haematological=False)
    assert rule_set.evaluate(facts, discontinue_all_agents=False).rule == "nausea-g2"


# ------------------------------------------------------------------ custom sets in protocols


def protocol_data(**changes: Any) -> Data:
    data: Data = template("defactinib-paclitaxel").model_dump(mode="json")
    data.update({"id": "sponsor-protocol", "rule_set": "my-rules", "custom_rule_set": custom()})
    data.update(changes)
    return data


def test_a_protocol_with_a_custom_set_is_recommended_from_it() -> None:
    protocol = protocol_from_mapping(protocol_data())
    nausea = AdverseEventFacts(term="Nausea", grade=2, haematological=False)
    rec = recommend_dose(protocol, nausea)
    assert (rec.action, rec.rule_set, rec.rule_set_version, rec.rule) == (
        "withhold",
        "my-rules",
        "2",
        "nausea-g2",
    )
    # The shipped 400 mg set would have continued.
    assert recommend_dose(template("defactinib-paclitaxel"), nausea).action == "continue"
    assert recommend_not_recovered(protocol, "cpk-g3").rule == "cpk-late"


def test_a_protocol_with_a_custom_set_round_trips_as_stored_on_events() -> None:
    protocol = protocol_from_mapping(protocol_data())
    assert protocol_from_mapping(copy.deepcopy(protocol.model_dump(mode="json"))) == protocol


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rule_set": "other"}, "rule_set: must name the custom rule set (my-rules), not other"),
        ({"rule_set": "nothing", "custom_rule_set": None}, "no shipped rule set 'nothing'"),
        (
            {
                "rule_set": "defactinib-400-bid",
                "custom_rule_set": custom() | {"id": "defactinib-400-bid"},
            },
            "defactinib-400-bid is a shipped rule set",
        ),
    ],
)
def test_protocol_rule_set_must_resolve(changes: Data, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(protocol_data(**changes))
    assert message in str(caught.value)


def test_a_protocol_with_an_invalid_custom_set_names_the_rule() -> None:
    data = protocol_data()
    _set("cpk-g4", action="continue", resume="same")(data["custom_rule_set"])
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(data)
    assert str(caught.value) == (
        "protocol: custom_rule_set: rule set my-rules: rules.3 (cpk-g4): "
        "resume is only for withhold"
    )


def test_a_protocol_without_a_rule_set_gets_no_recommendations() -> None:
    protocol = protocol_from_mapping(protocol_data(rule_set=None, custom_rule_set=None))
    facts = AdverseEventFacts(term="Nausea", grade=3, haematological=False)
    with pytest.raises(InvalidInput, match="sponsor-protocol names no rule set"):
        recommend_dose(protocol, facts)
