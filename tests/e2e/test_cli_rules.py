"""``doseledger rules`` and ``doseledger ctcae grade`` as a user sees them; no database needed."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_runner import CliRunner
from domain.rules import load_rule_set

AVU = "defactinib-avutometinib"
PAC = "defactinib-paclitaxel"
PEM = "defactinib-pembrolizumab-gemcitabine"
ALT = "Alanine aminotransferase increased"
AST = "Aspartate aminotransferase increased"
BILI = "Blood bilirubin increased"
NEUT = "Neutrophil count decreased"
PLT = "Platelet count decreased"
RASH = "Rash acneiform"


class Cli(CliRunner):
    """The runner, with single-line JSON answers and nothing on stderr."""

    def json(self, *argv: str) -> Any:
        code, out, err = self.run(*argv)
        assert code == 0, err
        assert err == ""
        assert len(out.strip().splitlines()) == 1, out
        return json.loads(out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    # Point the store at a file that must never appear: these commands need no database.
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/unused.db")
    return Cli(capsys)


@pytest.fixture(autouse=True)
def _no_database_touched(tmp_path: Path) -> Iterator[None]:
    yield
    assert not (tmp_path / "unused.db").exists()


# ------------------------------------------------------------------ rules evaluate


def evaluate(cli: Cli, regimen: str, args: str) -> dict[str, Any]:
    result: dict[str, Any] = cli.json("rules", "evaluate", "--regimen", regimen, *shlex.split(args))
    return result


def test_evaluate_prints_exactly_the_public_fields(cli: Cli) -> None:
    assert evaluate(cli, AVU, "--term 'CPK increased' --grade 4") == {
        "action": "withhold",
        "resume": "reduced",
        "resume_when_grade_at_most": 1,
        "within_days": 21,
        "discontinue_all_agents": False,
        "rule_set": "avutometinib-combination",
        "rule": "cpk-g4",
    }


BV = "--term 'Blurred vision'"


@pytest.mark.parametrize(
    ("regimen", "args", "expected"),
    [
        (AVU, "--term 'rash acneiform' --grade 2", "continue - rash-g2"),
        (AVU, "--term 'Rash acneiform' --grade 2 --intolerable", "reduce - rash-g2-intolerable"),
        (AVU, "--term 'Rash acneiform' --grade 4", "discontinue - rash-g4"),
        (AVU, "--term Nausea --grade 3", "withhold same other-g3-first"),
        (AVU, "--term Nausea --grade 3 --occurrence 2", "withhold reduced other-g3-repeat"),
        (AVU, f"{BV} --bcva 20/80 --baseline-bcva 20/20", "withhold same blurred-vision-worse"),
        (AVU, f"{BV} --bcva 6/60 --baseline-bcva 6/6", "withhold reduced blurred-vision-20-200"),
        (AVU, f"{BV} --bcva 20/20 --baseline-bcva 20/25", "continue - blurred-vision-not-worse"),
        (AVU, f"{BV} --grade 3", "withhold same blurred-vision-worse"),
        (AVU, "--term 10029366 --grade 4", "continue - haematological"),  # neutrophils, by code
        (PAC, "--term 'Rash acneiform' --grade 4", "discontinue - rash-g4"),
        (PAC, "--term Nausea --grade 3", "withhold reduced non-haematological-g3-g4"),
        (PEM, "--term Nausea --grade 2", "continue - otherwise-continue"),
    ],
)
def test_evaluate_rows(cli: Cli, regimen: str, args: str, expected: str) -> None:
    result = evaluate(cli, regimen, args)
    assert f"{result['action']} {result['resume'] or '-'} {result['rule']}" == expected


def test_grade_5_discontinues_all_agents_only_with_avutometinib(cli: Cli) -> None:
    assert evaluate(cli, AVU, "--term Anemia --grade 5")["discontinue_all_agents"] is True
    assert evaluate(cli, PAC, "--term Anemia --grade 5")["discontinue_all_agents"] is False


# ------------------------------------------------------------------ rules show


@pytest.mark.parametrize(
    ("regimen", "rule_set"),
    [(AVU, "avutometinib-combination"), (PAC, "defactinib-400-bid")],
)
def test_show_lists_every_rule_in_order(cli: Cli, regimen: str, rule_set: str) -> None:
    out = cli.text("rules", "show", "--regimen", regimen)
    lines = out.splitlines()
    assert lines[0].startswith(f"{rule_set} {load_rule_set(rule_set).version}: ")
    rule_lines = [line for line in lines if line[:3].strip().rstrip(".").isdigit()]
    ids = [rule.id for rule in load_rule_set(rule_set).rules]
    assert [line.split()[1] for line in rule_lines] == ids


def test_show_reads_as_a_table(cli: Cli) -> None:
    out = cli.text("rules", "show", "--regimen", AVU)
    line = {ln.split()[1]: ln for ln in out.splitlines() if ln[:3].strip().rstrip(".").isdigit()}
    assert (
        "CPK increased, grade 4 -> withhold; resume at the reduced dose when grade <= 1"
        in (line["cpk-g4"])
    )
    assert "within 21 days, else rule cpk-not-recovered" in line["cpk-g4"]
    assert line["cpk-not-recovered"].endswith("[protocol default]")
    assert (
        "not recovered by the hold's deadline -> discontinue all agents"
        in (line["cpk-not-recovered"])
    )
    assert "BCVA 20/200 or worse (without a BCVA: grade 4)" in line["blurred-vision-20-200"]
    assert "second or later occurrence" in line["other-g3-repeat"]
    assert "-> reduce one step" in line["rash-g2-intolerable"]
    assert "any other AE -> continue" in line["otherwise-continue"]
    assert "[protocol default]" not in line["rash-g3"]


# ------------------------------------------------------------------ ctcae grade


@pytest.mark.parametrize(
    ("args", "term", "expected"),
    [
        ("--term 'cpk increased' --value 500 --uln 200", "CPK increased", 1),
        ("--term 'CPK increased' --value 500.01 --uln 200", "CPK increased", 2),
        ("--term 'CPK increased' --value 2000 --uln 200", "CPK increased", 3),
        ("--term 'CPK increased' --value 2000.1 --uln 200", "CPK increased", 4),
        ("--term 'CPK increased' --value 200 --uln 200", "CPK increased", 0),
        (f"--term '{ALT}' --value 120 --uln 40", ALT, 1),
        (f"--term '{ALT}' --value 120.1 --uln 40", ALT, 2),
        (f"--term '{ALT}' --value 150 --uln 40 --baseline 100", ALT, 0),  # = 1.5 x baseline
        (f"--term '{ALT}' --value 150.5 --uln 40 --baseline 100", ALT, 1),
        ("--term 'Aspartate aminotransferase increased' --value 800 --uln 40", AST, 3),
        ("--term 'Blood bilirubin increased' --value 1.5 --uln 1", BILI, 1),
        (f"--term '{BILI}' --value 10.01 --uln 1", BILI, 4),
        (f"--term '{NEUT}' --value 1500 --lln 2000", NEUT, 1),
        (f"--term '{NEUT}' --value 1499 --lln 2000", NEUT, 2),
        (f"--term '{NEUT}' --value 499 --lln 2000", NEUT, 4),
        (f"--term '{NEUT}' --value 2000 --lln 2000", NEUT, 0),
        ("--term 'Platelet count decreased' --value 25000 --lln 150000", PLT, 3),
        (f"--term '{PLT}' --value 24999 --lln 150000", PLT, 4),
        ("--term 'Rash acneiform' --bsa 9.9 --symptoms mild", RASH, 1),
        ("--term 'Rash acneiform' --bsa 10 --symptoms none", RASH, 2),
        ("--term 'Rash acneiform' --bsa 30 --symptoms severe", RASH, 2),
        ("--term 'Rash acneiform' --bsa 31 --symptoms mild", RASH, 2),
        ("--term 'Rash acneiform' --bsa 31 --symptoms moderate", RASH, 3),
        ("--term 'Rash acneiform' --bsa 5 --symptoms none --life-threatening", RASH, 4),
        (f"{BV} --bcva 20/40 --baseline-bcva 20/20", "Blurred vision", 2),
        (f"{BV} --bcva 20/50 --baseline-bcva 20/20", "Blurred vision", 3),
        (f"{BV} --bcva 20/160 --baseline-bcva 20/20", "Blurred vision", 3),
        (f"{BV} --bcva 20/200 --baseline-bcva 20/20", "Blurred vision", 4),
        (f"{BV} --bcva 20/40 --baseline-bcva 20/40", "Blurred vision", 0),
    ],
)
def test_ctcae_grade_forms_and_boundaries(cli: Cli, args: str, term: str, expected: int) -> None:
    result = cli.json("ctcae", "grade", *shlex.split(args))
    assert result == {"term": term, "grade": expected, "ctcae_version": "5.0"}


def test_rash_under_ctcae_4_is_graded_and_labelled_4_0(cli: Cli) -> None:
    args = "--term 'Rash acneiform' --bsa 31 --symptoms mild --ctcae-version 4.0"
    assert cli.json("ctcae", "grade", *shlex.split(args)) == {
        "term": "Rash acneiform",
        "grade": 3,
        "ctcae_version": "4.0",
    }


# ------------------------------------------------------------------ refused input

EVALUATE = f"rules evaluate --regimen {AVU}"
GRADE = "ctcae grade"
CPK = f"{GRADE} --term 'CPK increased'"
RASH_GRADE = f"{GRADE} --term 'Rash acneiform'"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (f"{EVALUATE} --term Nausea --grade 4", "Nausea has no grade 4"),
        (f"{EVALUATE} --term Nausee --grade 2", "did you mean 'Nausea'"),
        (f"{EVALUATE} --term Nausea", "one of the arguments --grade --bcva is required"),
        (f"{EVALUATE} {BV} --grade 2 --bcva 20/40", "not allowed with"),
        (f"{EVALUATE} {BV} --bcva 20/40", "--bcva needs --baseline-bcva"),
        (f"{EVALUATE} {BV} --grade 2 --baseline-bcva 20/20", "goes with --bcva"),
        (f"{EVALUATE} {BV} --bcva 20/forty --baseline-bcva 20/20", "not a Snellen fraction"),
        (f"{EVALUATE} {BV} --bcva 20/40 --baseline-bcva 40/20", "not a Snellen fraction"),
        (f"{EVALUATE} --term Nausea --bcva 20/40 --baseline-bcva 20/20", "only blurred vision"),
        (f"{EVALUATE} --term Nausea --grade 3 --occurrence 0", "occurrence"),
        (f"{EVALUATE} --term Nausea --grade three", "'three' is not a whole number"),
        (f"{EVALUATE} --term Nausea --grade 3 --colour red", "unrecognized arguments"),
        ("rules evaluate --regimen nope --term Nausea --grade 1", "no protocol template 'nope'"),
        ("rules show --regimen nope", "no protocol template 'nope'"),
        ("rules show", "the following arguments are required: --regimen"),
        ("rules", "required"),
        (f"{CPK} --value 500", "missing --uln"),
        (f"{CPK} --value 500 --uln 200 --baseline 300", "--baseline does not apply to CPK"),
        (f"{CPK} --value 500 --lln 200", "missing --uln"),
        (f"{CPK} --value 500 --uln 200 --ctcae-version 4.0", "--ctcae-version does not apply"),
        (f"{CPK} --value -1 --uln 200", "must not be negative"),
        (f"{CPK} --value nan --uln 200", "finite"),
        (f"{CPK} --value x --uln 200", "'x' is not a number"),
        (f"{CPK} --value 500 --uln 0", "uln must be greater than 0"),
        (f"{GRADE} --term '{NEUT}' --value 500 --uln 2000", "missing --lln"),
        (f"{GRADE} --term '{NEUT}' --value 500 --lln 2000 --uln 1", "--uln does not apply"),
        (f"{RASH_GRADE} --bsa 40", "missing --symptoms"),
        (f"{RASH_GRADE} --bsa 140 --symptoms mild", "0..100"),
        (f"{RASH_GRADE} --bsa 40 --symptoms itchy", "invalid choice"),
        (f"{RASH_GRADE} --bsa 40 --symptoms mild --ctcae-version 3.0", "invalid choice"),
        (f"{RASH_GRADE} --bsa 40 --symptoms mild --value 1", "--value does not apply to Rash"),
        (f"{GRADE} {BV} --bcva 20/40", "missing --baseline-bcva"),
        (f"{GRADE} {BV} --bcva 20/40 --baseline-bcva 20/20 --life-threatening", "does not apply"),
        (f"{GRADE} --term Nausea --value 1", "Nausea cannot be graded from measurements"),
        (f"{GRADE} --term Nope --value 1", "not a CTCAE v5.0 term"),
        (f"{GRADE} --value 1", "the following arguments are required: --term"),
    ],
)
def test_invalid_input_exits_2_with_one_line(cli: Cli, argv: str, message: str) -> None:
    assert message in cli.refused(*shlex.split(argv))
