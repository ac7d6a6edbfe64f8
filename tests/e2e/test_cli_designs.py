"""The interval designs on the command line: boundaries, next dose, simulate --design."""

from __future__ import annotations

import json

import pytest

from cli_runner import CliRunner
from domain.designs.operating_characteristics import exact, simulate

SCENARIO = "0.05,0.15,0.3,0.45,0.6"  # R BOIN's get.oc example


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    return CliRunner(capsys)


def test_boin_boundaries_are_r_get_boundary(cli: CliRunner) -> None:
    # R BOIN 2.7.2 get.boundary(target = 0.3, ncohort = 10, cohortsize = 3).
    table = cli.json("design", "boundaries", "--design", "boin", "--target", "0.30")
    assert set(table) == {"lambda_e", "lambda_d", "rows"}
    assert round(table["lambda_e"], 3) == 0.236 and round(table["lambda_d"], 3) == 0.359
    assert table["rows"][0] == {
        "n": 3,
        "escalate_at_most": 0,
        "deescalate_at_least": 2,
        "eliminate_at_least": 3,
    }
    assert [r["eliminate_at_least"] for r in table["rows"]] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]
    short = cli.json(
        "design", "boundaries", "--design", "boin", "--target", "0.3", "--cohort-size", "1",
        "--max-n", "2",
    )  # fmt: skip
    assert short["rows"][-1] == {
        "n": 2,
        "escalate_at_most": 0,
        "deescalate_at_least": 1,
        "eliminate_at_least": None,
    }


def test_i3plus3_and_mtpi2_boundaries_show_their_own_parameters(cli: CliRunner) -> None:
    i3 = cli.json(
        "design", "boundaries", "--design", "i3+3", "--target", "0.25", "--interval", "0.20,0.30",
        "--max-n", "12",
    )  # fmt: skip
    assert i3["interval"] == [0.2, 0.3]
    # 2/9 = 0.22 is inside [0.2, 0.3]: stay; 3/9: 2/9 is not below 0.2: de-escalate.
    assert i3["rows"][2] == {
        "n": 9,
        "escalate_at_most": 1,
        "deescalate_at_least": 3,
        "eliminate_at_least": 5,
    }
    mtpi2 = cli.json("design", "boundaries", "--design", "mtpi2", "--target", "0.3")
    assert (mtpi2["epsilon1"], mtpi2["epsilon2"]) == (0.05, 0.05)
    # Guo et al. (2017) Figure 3: at 9 patients 0-2 DLTs escalate, 3 stay, 4 de-escalate.
    assert mtpi2["rows"][2]["escalate_at_most"] == 2
    assert mtpi2["rows"][2]["deescalate_at_least"] == 4


def test_next_dose_follows_the_published_boin_trial(cli: CliRunner) -> None:
    # R escalation's test_boin.R (Han et al. 2019, p.25): after 3/3 at dose 4, back to 3.
    path = "1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT"
    assert cli.json("next-dose", path, "--design", "boin", "--target", "0.30", "--doses", "5") == {
        "next_dose": 3,
        "continue": True,
        "mtd": None,
        "eliminated": [4, 5],
    }
    final = cli.json(
        "next-dose", "1NNN 2NNN 3NNN 3NNN 3NNN 3NNT 3TTT 4NNN 4NNT 4TTT", "--design", "boin",
        "--target", "0.3", "--doses", "5", "--max-n", "30",
    )  # fmt: skip
    assert final == {"next_dose": None, "continue": False, "mtd": 3, "eliminated": []}


def test_next_dose_stops_at_n_earlystop_and_when_the_lowest_dose_is_eliminated(
    cli: CliRunner,
) -> None:
    stay = ("1NNN 2NTN 2NTN", "--design", "mtpi2", "--target", "0.3", "--doses", "3")
    assert cli.json("next-dose", *stay)["next_dose"] == 2
    assert cli.json("next-dose", *stay, "--n-earlystop", "6") == {
        "next_dose": None,
        "continue": False,
        "mtd": 2,
        "eliminated": [],
    }
    assert cli.json("next-dose", "1TTT", "--design", "i3+3", "--target", "0.3", "--doses", "3") == {
        "next_dose": None,
        "continue": False,
        "mtd": None,
        "eliminated": [1, 2, 3],
    }


def test_simulate_an_interval_design_exactly_and_by_simulation(cli: CliRunner) -> None:
    base = ("simulate", "--design", "boin", "--target", "0.3", "--true-tox", SCENARIO)
    exact_oc = cli.json(*base, "--exact")
    assert set(exact_oc) == {"levels", "p_no_mtd", "expected_sample_size"}
    assert abs(exact_oc["expected_sample_size"] - 30) < 0.01  # stops early only if all toxic
    simulated = cli.json(*base, "--runs", "400", "--seed", "7")
    assert simulated == cli.json(*base, "--runs", "400", "--seed", "7")
    for want, got in zip(exact_oc["levels"], simulated["levels"], strict=True):
        assert abs(want["p_select"] - got["p_select"]) < 0.1


def test_simulate_without_design_is_todays_3_plus_3_byte_for_byte(cli: CliRunner) -> None:
    code, out, _ = cli.run("simulate", "--true-tox", "0.05,0.10,0.20,0.35", "--exact")
    assert code == 0
    assert out == json.dumps(exact((0.05, 0.10, 0.20, 0.35), deescalate=False).as_json()) + "\n"
    argv = ("simulate", "--true-tox", "0.1,0.3", "--deescalate", "--runs", "50", "--seed", "3")
    code, out, _ = cli.run(*argv)
    want = simulate((0.1, 0.3), deescalate=True, runs=50, seed=3).as_json()
    assert (code, out) == (0, json.dumps(want) + "\n")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["design", "boundaries", "--design", "boin"], "needs --target"),
        (["design", "boundaries", "--design", "boin", "--target", "0.9"], "target is 0.9"),
        (["design", "boundaries", "--design", "boin", "--target", "x"], "'x' is not a number"),
        (["design", "boundaries", "--design", "crm", "--target", "0.3"], "invalid choice"),
        (["design", "boundaries", "--design", "boin", "--target", "0.3", "--interval", "0.2,0.4"],
         "interval is not a parameter of the boin design"),
        (["design", "boundaries", "--design", "i3+3", "--target", "0.3", "--interval", "0.2"],
         "two numbers"),
        (["design", "boundaries", "--design", "i3+3", "--target", "0.3", "--interval", "0.3,0.4"],
         "interval: lower end"),
        (["design", "boundaries", "--design", "mtpi2", "--target", "0.3", "--epsilon1", "0"],
         "epsilon1"),
        (["design", "boundaries", "--design", "boin", "--target", "0.3", "--max-n", "31"],
         "max_n is 31"),
        (["design", "boundaries", "--design", "boin", "--target", "0.3", "--phi1", "0.29"],
         "phi1"),
        (["next-dose", "1NNN", "--design", "boin", "--target", "0.3"], "--doses"),
        (["next-dose", "1NXN", "--design", "boin", "--target", "0.3", "--doses", "3"], "'X'"),
        (["next-dose", "4NNN", "--design", "boin", "--target", "0.3", "--doses", "3"], "4"),
        (["simulate", "--design", "boin", "--true-tox", "0.1", "--exact"], "needs --target"),
        (["simulate", "--true-tox", "0.1", "--exact", "--target", "0.3"], "--target goes with"),
        (["simulate", "--true-tox", "0.1", "--exact", "--max-n", "9"], "--max-n goes with"),
        (["simulate", "--design", "boin", "--target", "0.3", "--true-tox", "0.1", "--exact",
          "--deescalate"], "--deescalate goes with --design 3+3"),
        (["simulate", "--design", "boin", "--target", "0.3", "--true-tox", "0.1", "--exact",
          "--max-n", "39"], "up to 12 cohorts"),
        (["simulate", "--design", "mtpi2", "--target", "0.3", "--true-tox", "0.1", "--runs",
          "5"], "--seed"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(cli: CliRunner, argv: list[str], fragment: str) -> None:
    assert fragment in cli.refused(*argv)
