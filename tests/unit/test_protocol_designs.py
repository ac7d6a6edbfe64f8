"""A protocol's design as data: 3+3 as before, or BOIN, i3+3, mTPI-2 with their parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.designs.catalogue import interval_design
from domain.errors import InvalidInput
from domain.protocol import Protocol, protocol_from_mapping, template
from domain.protocol_design import BoinDesign, I3Plus3Design, Mtpi2Design, ThreePlusThree


def _avutometinib(design: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = template("defactinib-avutometinib").model_dump(mode="json")
    if design is None:
        del data["design"]
    else:
        data["design"] = design
    return data


@pytest.mark.parametrize(
    "design", [None, {}, {"deescalate": False}, {"kind": "3+3", "deescalate": True}]
)
def test_a_design_without_a_kind_is_the_3_3_as_before(design: dict[str, Any] | None) -> None:
    protocol = Protocol.model_validate(_avutometinib(design))
    assert isinstance(protocol.design, ThreePlusThree)
    assert protocol.design.deescalate == (design or {}).get("deescalate", True)
    # A 3+3 protocol is recorded exactly as before the interval designs.
    assert protocol.model_dump(mode="json")["design"] == {
        "kind": "3+3",
        "deescalate": protocol.design.deescalate,
        "cohort_size": 3,
        "max_patients_per_level": 6,
        "starting_level": 1,
    }


@pytest.mark.parametrize(
    ("design", "kind"),
    [
        ({"kind": "boin", "target": 0.3}, BoinDesign),
        ({"kind": "boin", "target": 0.25, "phi1": 0.15, "phi2": 0.35}, BoinDesign),
        ({"kind": "i3+3", "target": 0.25, "interval": [0.2, 0.3]}, I3Plus3Design),
        ({"kind": "mtpi2", "target": 0.3, "epsilon1": 0.05, "epsilon2": 0.1}, Mtpi2Design),
        (
            {
                "kind": "boin",
                "target": 0.3,
                "cohort_size": 1,
                "max_n": 24,
                "n_earlystop": 9,
                "cutoff_eli": 0.9,
                "extrasafe": True,
                "offset": 0.1,
                "starting_level": 2,
            },
            BoinDesign,
        ),
    ],
)
def test_interval_designs_carry_their_engine_parameters(design: dict[str, Any], kind: type) -> None:
    protocol = protocol_from_mapping(_avutometinib(design))
    assert isinstance(protocol.design, kind)
    assert isinstance(protocol.design, BoinDesign | I3Plus3Design | Mtpi2Design)
    engine = protocol.design.engine()
    own = {k: v for k, v in design.items() if k in ("phi1", "phi2", "epsilon1", "epsilon2")}
    if "interval" in design:
        own["interval"] = tuple(design["interval"])
    shared = ("cohort_size", "max_n", "n_earlystop", "cutoff_eli", "extrasafe", "offset")
    expected = interval_design(
        design["kind"],
        design["target"],
        **{k: design[k] for k in shared if k in design},
        **own,
    )
    assert engine == expected
    # The recorded form validates back to the same design (a trial replays it).
    again = Protocol.model_validate(json.loads(json.dumps(protocol.model_dump(mode="json"))))
    assert again.design == protocol.design


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"kind": "CRM"}, "design.kind", "3+3, boin, i3+3, mtpi2"),
        ({"target": 0.9}, "design.target", "less than or equal to 0.6"),
        ({"target": "0.3"}, "design.target", "valid number"),
        ({"max_n": 31}, "design.max_n", "whole number of cohorts"),
        ({"cohort_size": 0}, "design.cohort_size", "greater than or equal to 1"),
        ({"cutoff_eli": 1.2}, "design.cutoff_eli", "less than 1"),
        ({"phi1": 0.29}, "design.phi1", "0.9 × target"),
        ({"phi2": 0.31}, "design.phi2", "1.1 × target"),
        ({"epsilon1": 0.05}, "design.epsilon1", "not a parameter of the boin design"),
        ({"starting_level": 3}, "design.starting_level", "above the highest dose level"),
        ({"deescalate": True}, "design.deescalate", "not a parameter of the boin design"),
    ],
)
def test_a_bad_design_is_refused_naming_the_field(
    change: dict[str, Any], field: str, says: str
) -> None:
    design = {"kind": "boin", "target": 0.3, **change}
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(_avutometinib(design))
    assert caught.value.field == field
    assert f"{field}: " in caught.value.message and says in caught.value.message


@pytest.mark.parametrize(
    ("design", "field"),
    [
        ({"kind": "i3+3", "target": 0.25, "interval": [0.3, 0.35]}, "design.interval"),
        ({"kind": "i3+3", "target": 0.25, "interval": [0.2]}, "design.interval.1"),
        ({"kind": "mtpi2", "target": 0.3, "epsilon1": 0.4}, "design.epsilon1"),
        ({"kind": "mtpi2", "target": 0.3, "epsilon2": 0}, "design.epsilon2"),
        ({"kind": "boin"}, "design.target"),
    ],
)
def test_each_design_checks_its_own_parameters(design: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        protocol_from_mapping(_avutometinib(design))
    assert caught.value.field == field


def test_the_boin_template_is_the_avutometinib_regimen_with_a_target_of_0_30() -> None:
    boin = template("defactinib-avutometinib-boin")
    plain = template("defactinib-avutometinib")
    assert isinstance(boin.design, BoinDesign)
    assert (boin.design.target, boin.design.cohort_size) == (0.3, 3)
    assert (boin.design.max_n, boin.design.n_earlystop, boin.design.cutoff_eli) == (18, 12, 0.95)
    assert boin.dose_levels == plain.dose_levels
    assert boin.reduction_ladders == plain.reduction_ladders
    assert boin.rule_set == plain.rule_set
