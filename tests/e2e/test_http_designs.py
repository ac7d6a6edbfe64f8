"""The interval designs over HTTP: their decision tables, and trials registered on them."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.application import DoseLedger
from cli_runner import CliRunner
from domain.protocol import template
from http_api import Api


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(
        ledger,
        {"admin": ("admin", None), "monitor": ("monitor", None), "src": ("src_member", None)},
    )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    return CliRunner(capsys)


CASES: list[tuple[str, dict[str, str], list[str]]] = [
    ("boin", {"target": "0.3"}, []),
    (
        "boin",
        {"target": "0.25", "cohort_size": "1", "max_n": "12", "phi1": "0.15", "phi2": "0.35"},
        ["--cohort-size", "1", "--max-n", "12", "--phi1", "0.15", "--phi2", "0.35"],
    ),
    (
        "boin",
        {"target": "0.3", "n_earlystop": "9", "cutoff_eli": "0.9", "extrasafe": "true"},
        ["--n-earlystop", "9", "--cutoff-eli", "0.9", "--extrasafe"],
    ),
    ("i3+3", {"target": "0.25", "interval": "0.2,0.3"}, ["--interval", "0.2,0.3"]),
    ("i3+3", {"target": "0.3"}, []),
    ("mtpi2", {"target": "0.3", "epsilon2": "0.1"}, ["--epsilon2", "0.1"]),
]


@pytest.mark.parametrize(("name", "query", "options"), CASES)
def test_the_boundaries_are_the_clis_json(
    api: Api, cli: CliRunner, name: str, query: dict[str, str], options: list[str]
) -> None:
    answer = api.call("GET", f"/designs/{name}/boundaries", "monitor", 200, params=query).json()
    printed = cli.json(
        "design", "boundaries", "--design", name, "--target", query["target"], *options
    )
    assert answer == printed


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/designs/boin/boundaries", {}, "target"),
        ("/designs/boin/boundaries", {"target": "0.9"}, "target"),
        ("/designs/boin/boundaries", {"target": "x"}, "target"),
        ("/designs/crm/boundaries", {"target": "0.3"}, "name"),
        ("/designs/boin/boundaries", {"target": "0.3", "max_n": "31"}, "max_n"),
        ("/designs/boin/boundaries", {"target": "0.3", "phi1": "0.29"}, "phi1"),
        ("/designs/i3+3/boundaries", {"target": "0.3", "phi1": "0.2"}, "phi1"),
        ("/designs/i3+3/boundaries", {"target": "0.3", "interval": "0.1"}, "interval"),
        ("/designs/i3+3/boundaries", {"target": "0.3", "interval": "0.31,0.4"}, "interval"),
        ("/designs/mtpi2/boundaries", {"target": "0.3", "epsilon1": "0.4"}, "epsilon1"),
    ],
)
def test_bad_parameters_are_a_problem_naming_the_parameter(
    api: Api, path: str, query: dict[str, str], field: str
) -> None:
    problem = api.call("GET", path, "monitor", 422, params=query).json()
    assert field in problem["field"], problem


def _boin_protocol(**design: Any) -> dict[str, Any]:
    data: dict[str, Any] = template("defactinib-avutometinib-boin").model_dump(mode="json")
    data["id"] = "custom-boin"
    data["design"] = {**data["design"], **design}
    return data


def test_a_trial_registered_on_a_boin_protocol_answers_in_the_designs_terms(api: Api) -> None:
    trial = api.call("POST", "/trials", "admin", 201, json={"protocol": _boin_protocol()}).json()
    assert trial["design"]["kind"] == "boin" and trial["design"]["target"] == 0.3
    assert trial["deescalate"] is None
    from_template = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib-boin"}
    ).json()
    assert from_template["design"] == trial["design"]


@pytest.mark.parametrize(
    ("design", "field"),
    [
        ({"target": 0.7}, "design.target"),
        ({"max_n": 20}, "design.max_n"),
        ({"kind": "crm"}, "design.kind"),
        ({"interval": [0.2, 0.4]}, "design.interval"),
    ],
)
def test_a_bad_design_is_refused_naming_the_field_and_records_nothing(
    api: Api, ledger: DoseLedger, design: dict[str, Any], field: str
) -> None:
    before = ledger.recorder.max_notification_id()
    body = {"protocol": _boin_protocol(**design)}
    problem = api.call("POST", "/trials", "admin", 422, json=body).json()
    assert problem["field"] == field
    assert ledger.recorder.max_notification_id() == before


def test_a_refused_stay_records_nothing(api: Api, ledger: DoseLedger) -> None:
    """A 3+3 trial has no stay: 422, naming the decision, and nothing appended."""
    trial = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()
    before = ledger.recorder.max_notification_id()
    body = {"cohort": 1, "decision": "stay", "reason": "r"}
    api.call("POST", f"/trials/{trial['id']}/decisions", "src", 422, json=body)
    assert ledger.recorder.max_notification_id() == before
