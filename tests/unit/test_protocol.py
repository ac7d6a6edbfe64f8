"""Protocols: the shipped templates, and custom protocol files refused with the field at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.errors import InvalidInput, NotFound
from domain.protocol import TEMPLATE_IDS, load_protocol_file, protocol_from_mapping, template


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


def test_pembrolizumab_gemcitabine_template_has_five_levels_topping_at_400_mg_bid() -> None:
    protocol = template("defactinib-pembrolizumab-gemcitabine")
    assert protocol.num_levels == 5
    assert protocol.dose_level(5).dose_of("defactinib").label == "defactinib 400 mg BID"
    assert protocol.schedule.continuous
    assert [d.label for d in protocol.reduction_ladders["defactinib"]] == [
        "defactinib 400 mg BID",
        "defactinib 200 mg BID",
    ]


def test_paclitaxel_template_is_continuous_400_mg_bid_at_its_top_level() -> None:
    protocol = template("defactinib-paclitaxel")
    assert protocol.schedule.continuous
    assert protocol.dose_level(protocol.num_levels).dose_of("defactinib").amount == 400


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
