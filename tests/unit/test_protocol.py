"""Protocols: the shipped templates, and custom protocol files refused with the field at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.dose_ladder import can_reduce, reduced
from domain.errors import InvalidInput, NotFound
from domain.protocol import (
    TEMPLATE_IDS,
    AgentDose,
    Protocol,
    compare_doses,
    load_protocol_file,
    protocol_from_mapping,
    template,
)
from support import old_pembrolizumab_gemcitabine_template


def test_avutometinib_template_has_the_co_pack_dose_and_the_higher_untolerated_level() -> None:
    protocol = template("defactinib-avutometinib")
    assert [lvl.label for lvl in protocol.dose_levels] == [
        "DL1: defactinib 200 mg BID + avutometinib 3.2 mg twice weekly",
        "DL2: defactinib 400 mg BID + avutometinib 3.2 mg twice weekly",
    ]
    assert protocol.schedule.cycle_length_days == 28
    assert (protocol.schedule.days_on, protocol.schedule.days_off) == (21, 7)
    assert protocol.dlt_window_days == 28
    ladder = [d.label for d in protocol.reduction_ladders["defactinib"]]
    assert ladder[-2:] == ["defactinib 200 mg BID", "defactinib 200 mg QD"]
    assert protocol.ladder_exhausted == "discontinue_all_agents"
    assert protocol.evaluability_min_dose_fraction == 0.75
    assert protocol.design.kind == "3+3"


LADDER_400 = ["defactinib 400 mg BID", "defactinib 200 mg BID", "defactinib 200 mg QD"]


def test_pembrolizumab_gemcitabine_template_has_five_ordered_levels_topping_at_the_rp2d() -> None:
    protocol = template("defactinib-pembrolizumab-gemcitabine")
    assert protocol.num_levels == 5
    grid = [
        (lvl.dose_of("defactinib").label, lvl.dose_of("gemcitabine").amount)
        for lvl in protocol.dose_levels
    ]
    assert grid == [
        ("defactinib 200 mg BID", 400),
        ("defactinib 200 mg BID", 600),
        ("defactinib 200 mg BID", 800),
        ("defactinib 400 mg BID", 800),
        ("defactinib 400 mg BID", 1000),
    ]
    assert {lvl.dose_of("pembrolizumab").amount for lvl in protocol.dose_levels} == {200}
    assert protocol.schedule.continuous
    assert [d.label for d in protocol.reduction_ladders["defactinib"]] == LADDER_400


def test_paclitaxel_template_is_continuous_400_mg_bid_at_its_top_level() -> None:
    protocol = template("defactinib-paclitaxel")
    assert protocol.schedule.continuous
    assert protocol.dose_level(protocol.num_levels).dose_of("defactinib").amount == 400
    assert [d.label for d in protocol.reduction_ladders["defactinib"]] == LADDER_400


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_every_template_has_ordered_levels_and_a_step_below_every_level(
    template_id: str,
) -> None:
    protocol = template(template_id)
    protocol.check_ordered()
    for level in protocol.dose_levels:
        dose = level.dose_of("defactinib")
        assert can_reduce(protocol, list(level.doses)), level.label
        assert reduced(protocol, [dose])[0] != dose


# ------------------------------------------------------------------ ordered dose levels


def _dose(amount: float, frequency: str = "BID", unit: str = "mg") -> AgentDose:
    return AgentDose(agent="defactinib", amount=amount, unit=unit, frequency=frequency)


@pytest.mark.parametrize(
    ("first", "second", "order"),
    [
        (_dose(200), _dose(400), -1),
        (_dose(400), _dose(200), 1),
        (_dose(200), _dose(200), 0),
        (_dose(200, "QD"), _dose(200, "BID"), -1),
        (_dose(400, "qd"), _dose(200, "BID"), 0),
        (_dose(200, "BID"), _dose(300, "QD"), 1),
        (_dose(100, "TID"), _dose(200, "BID"), -1),
        (_dose(3.2, "twice weekly"), _dose(3.2, "weekly"), 1),
        (_dose(80, "days 1, 8 and 15"), _dose(100, "days 1, 8 and 15"), -1),
        (_dose(80, "days 1, 8 and 15"), _dose(80, "weekly"), None),
        (_dose(80, "days 1 and 8"), _dose(80, "days 1, 8 and 15"), None),
        (_dose(200, unit="mg"), _dose(200, unit="mg/kg"), None),
    ],
)
def test_doses_compare_within_a_unit_by_amount_or_by_daily_total(
    first: AgentDose, second: AgentDose, order: int | None
) -> None:
    assert compare_doses(first, second) == order
    assert compare_doses(second, first) == (None if order is None else -order)


def _pembro_gem(gemcitabine: list[float]) -> dict[str, Any]:
    data = template("defactinib-pembrolizumab-gemcitabine").model_dump(mode="json")
    for level, amount in zip(data["dose_levels"], gemcitabine, strict=True):
        level["doses"][2]["amount"] = amount
    return data


def test_the_old_pembrolizumab_gemcitabine_grid_is_refused_naming_level_and_agent() -> None:
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(old_pembrolizumab_gemcitabine_template())
    assert caught.value.message == (
        "protocol: dose_levels.3: gemcitabine goes down from DL3 (1000 mg/m2) to DL4 (800 mg/m2)"
    )
    assert caught.value.field == "dose_levels.3"


def test_a_level_that_raises_no_dose_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"dose_levels.1: DL2 raises no agent's dose above DL1"):
        protocol_from_mapping(_pembro_gem([400, 400, 800, 800, 1000]))


def test_a_frequency_change_compares_daily_totals() -> None:
    data = _data()
    data["dose_levels"][0]["doses"][0] |= {"amount": 200, "frequency": "BID"}
    data["dose_levels"][1]["doses"][0] |= {"amount": 300, "frequency": "QD"}
    data["reduction_ladders"]["defactinib"] = [
        data["dose_levels"][1]["doses"][0],
        data["dose_levels"][0]["doses"][0],
    ]
    with pytest.raises(
        InvalidInput,
        match=r"dose_levels.1: defactinib goes down from DL1 \(200 mg BID\) to DL2 \(300 mg QD\)",
    ):
        protocol_from_mapping(data)


def test_doses_that_cannot_be_compared_are_refused_naming_level_and_agent() -> None:
    data = _data()
    data["dose_levels"][1]["doses"][1]["frequency"] = "weekly"
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(data)
    message = caught.value.message
    assert message.startswith(
        "protocol: dose_levels.1: cannot compare the paclitaxel doses of "
        "DL1 (80 mg/m2 days 1, 8 and 15) and DL2 (80 mg/m2 weekly)"
    )
    assert "BID" in message and caught.value.field == "dose_levels.1"


def test_a_ladder_that_does_not_go_down_is_refused() -> None:
    data = _data()
    ladder = data["reduction_ladders"]["defactinib"]
    ladder[1], ladder[2] = ladder[2], ladder[1]
    with pytest.raises(
        InvalidInput,
        match=r"reduction_ladders.defactinib.2: defactinib 200 mg BID does not go down from "
        r"defactinib 200 mg QD",
    ):
        protocol_from_mapping(data)


def test_a_stored_unordered_protocol_still_validates_as_a_value() -> None:
    # Replay and snapshots use model_validate: the ordering is a registration-time check.
    protocol = Protocol.model_validate(old_pembrolizumab_gemcitabine_template())
    assert protocol.dose_level(4).dose_of("gemcitabine").amount == 800
    with pytest.raises(InvalidInput, match="gemcitabine goes down"):
        protocol.check_ordered()


def test_every_template_round_trips_through_plain_data() -> None:
    for template_id in TEMPLATE_IDS:
        protocol = template(template_id)
        assert protocol.id == template_id
        assert protocol_from_mapping(protocol.model_dump(mode="json")) == protocol


def test_unknown_template_is_not_found_and_lists_the_templates() -> None:
    with pytest.raises(NotFound, match="defactinib-paclitaxel"):
        template("defactinib-nothing")


def _data() -> dict[str, Any]:
    return template("defactinib-paclitaxel").model_dump(mode="json")


def test_custom_protocol_loads_from_json_and_yaml(tmp_path: Path) -> None:
    data = _data() | {"id": "sponsor-custom", "title": "Custom"}
    (tmp_path / "p.json").write_text(json.dumps(data))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    assert load_protocol_file(tmp_path / "p.json") == load_protocol_file(tmp_path / "p.yaml")
    assert load_protocol_file(tmp_path / "p.yaml").id == "sponsor-custom"


def _broken(change: str) -> dict[str, Any]:
    data = _data()
    if change == "amount":
        data["dose_levels"][1]["doses"][0]["amount"] = 0
    elif change == "order":
        data["dose_levels"][0]["level"], data["dose_levels"][1]["level"] = 2, 1
    elif change == "missing_agent":
        data["dose_levels"][0]["doses"] = data["dose_levels"][0]["doses"][:1]
    elif change == "ladder":
        data["reduction_ladders"]["defactinib"] = data["reduction_ladders"]["defactinib"][1:]
    elif change == "schedule":
        data["schedule"]["days_off"] = 7
    elif change == "extra":
        data["dose_levles"] = []
    elif change == "unit":
        data["dose_levels"][0]["doses"][0]["unit"] = "grams"
    elif change == "threshold":
        data["evaluability_min_dose_fraction"] = 1.5
    elif change == "design":
        data["design"]["kind"] = "CRM"
    return data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("amount", "dose_levels.1.doses.0.amount"),
        ("order", "dose_levels.0.level"),
        ("missing_agent", "dose_levels.0.doses"),
        ("ladder", "dose_levels.1"),
        ("schedule", "days_on"),
        ("extra", "dose_levles"),
        ("unit", "dose_levels.0.doses.0.unit"),
        ("threshold", "evaluability_min_dose_fraction"),
        ("design", "design.kind"),
    ],
)
def test_invalid_protocol_file_is_refused_naming_the_field(
    tmp_path: Path, change: str, field: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_broken(change)))
    with pytest.raises(InvalidInput) as caught:
        load_protocol_file(path)
    assert field in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON/YAML"), ("[1, 2]", "mapping"), ("", "not valid JSON")],
)
def test_malformed_protocol_files_are_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=expected):
        load_protocol_file(path)


def test_missing_protocol_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No such file"):
        load_protocol_file(tmp_path / "absent.yaml")


# ------------------------------------------------------------------ CTCAE version per term


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_templates_grade_every_term_under_ctcae_v5_by_default(template_id: str) -> None:
    protocol = template(template_id)
    assert protocol.ctcae_versions == {}
    for term in ("Rash acneiform", "CPK increased", "Nausea", "10029366"):
        assert protocol.ctcae_version(term) == "5.0"


def test_a_protocol_may_pin_rash_acneiform_to_ctcae_v4() -> None:
    protocol = protocol_from_mapping(_data() | {"ctcae_versions": {"rash ACNEIFORM": "4.0"}})
    assert protocol.ctcae_versions == {"Rash acneiform": "4.0"}  # CTCAE's own spelling
    assert protocol.ctcae_version("Rash acneiform") == "4.0"
    assert protocol.ctcae_version("rash acneiform") == "4.0"
    assert protocol.ctcae_version("Nausea") == "5.0"
    pinned_v5 = protocol_from_mapping(_data() | {"ctcae_versions": {"Nausea": "5.0"}})
    assert pinned_v5.ctcae_version("Nausea") == "5.0"
    assert protocol_from_mapping(protocol.model_dump(mode="json")) == protocol


@pytest.mark.parametrize(
    ("pinned", "message"),
    [
        (
            {"Nausea": "4.0"},
            "ctcae_versions: Nausea cannot be pinned to CTCAE v4.0: the system has v4.0 "
            "criteria only for Rash acneiform",
        ),
        ({"CPK increased": "4.0"}, "CPK increased cannot be pinned to CTCAE v4.0"),
        ({"Nauseous": "5.0"}, "'Nauseous' is not a CTCAE v5.0 term"),
        ({"Rash acneiform": "3.0"}, "ctcae_versions.Rash acneiform: Input should be '4.0' or"),
        ({"Rash acneiform": "4.0", "rash acneiform": "5.0"}, "Rash acneiform is pinned twice"),
    ],
)
def test_ctcae_versions_are_refused_naming_the_term(pinned: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(_data() | {"ctcae_versions": pinned})
    assert message in caught.value.message


def test_a_protocol_stored_without_ctcae_versions_loads_with_v5_everywhere() -> None:
    data = _data()
    del data["ctcae_versions"]
    assert Protocol.model_validate(data).ctcae_version("Rash acneiform") == "5.0"
