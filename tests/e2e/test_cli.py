"""The doseledger CLI as a user sees it: JSON on stdout, one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from cli_runner import StoreCli

INV = ("--role", "investigator")


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> StoreCli:
    return StoreCli(capsys, database_url, monkeypatch)


def test_three_plus_three_prints_exactly_three_keys(cli: StoreCli) -> None:
    assert cli.json("three-plus-three", "1NNN 2NTN", "--doses", "3") == {
        "next_dose": 2,
        "continue": True,
        "mtd": None,
    }
    assert cli.json("three-plus-three", "", "--doses", "3") == {
        "next_dose": 1,
        "continue": True,
        "mtd": None,
    }
    assert cli.json("three-plus-three", "1NNN 2TTN", "--doses", "3", "--deescalate") == {
        "next_dose": 1,
        "continue": True,
        "mtd": None,
    }
    assert cli.json("three-plus-three", "1NNN 2TTN", "--doses", "3") == {
        "next_dose": None,
        "continue": False,
        "mtd": 1,
    }


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["three-plus-three", "1NXN", "--doses", "3"], "'X'"),
        (["three-plus-three", "0NNN", "--doses", "3"], "level"),
        (["three-plus-three", "4NNN", "--doses", "3"], "4"),
        (["three-plus-three", "1NTNNNNN", "--doses", "3"], "6"),
        (["three-plus-three", "1NNN", "--doses", "0"], "at least 1"),
        (["three-plus-three", "1NNN"], "--doses"),
        (["simulate", "--true-tox", "0.1,1.2", "--exact"], "1.2"),
        (["simulate", "--true-tox", "0.1,0.2", "--runs", "10"], "--seed"),
        (["simulate", "--true-tox", "0.1,0.2"], "--exact"),
        (["simulate", "--true-tox", "0.1", "--exact", "--runs", "5", "--seed", "1"], "--runs"),
        (["simulate", "--true-tox", "a,b", "--exact"], "a"),
        (["trial", "register", "--template", "nope"], "nope"),
        (["trial", "show", "not-a-uuid"], "not a UUID"),
        (["trial", "show", "00000000-0000-0000-0000-000000000000"], "no trial"),
        (
            [*INV, "patient", "enrol", "00000000-0000-0000-0000-000000000000", "--site", "S1"],
            "no trial",
        ),
        (
            [
                *INV,
                "patient",
                "start-dosing",
                "00000000-0000-0000-0000-000000000000",
                "--date",
                "2026-13-01",
            ],
            "not a date",
        ),
        (["--role", "pharmacist", "trials"], "pharmacist"),
        (["protocols", "--validate", "/no/such/file.yaml"], "No such file"),
        (
            [
                *INV,
                "patient",
                "skin-exam",
                "00000000-0000-0000-0000-000000000000",
                "--date",
                "2026-01-01",
            ],
            "--findings",
        ),
        (
            [
                *INV,
                "patient",
                "skin-exam",
                "00000000-0000-0000-0000-000000000000",
                "--date",
                "2026-01-01",
                "--findings",
                "none",
            ],
            "no patient",
        ),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: StoreCli, argv: list[str], fragment: str) -> None:
    assert fragment in cli.refused(*argv)


def test_simulate_exact_and_seeded_runs(cli: StoreCli) -> None:
    exact = cli.json("simulate", "--true-tox", "0.05,0.10,0.20,0.35", "--exact")
    assert [lvl["level"] for lvl in exact["levels"]] == [1, 2, 3, 4]
    total = sum(lvl["p_select"] for lvl in exact["levels"]) + exact["p_no_mtd"]
    assert abs(total - 1) < 1e-9
    args = ("simulate", "--true-tox", "0.05,0.10,0.20,0.35", "--runs", "400", "--seed", "7")
    first, second = cli.json(*args), cli.json(*args)
    assert first == second
    assert set(first) == {"levels", "p_no_mtd", "expected_sample_size"}


def test_trial_lifecycle_through_the_cli(cli: StoreCli) -> None:
    trial_id = cli.json("trial", "register", "--template", "defactinib-paclitaxel")["trial_id"]
    patients = []
    for _ in range(3):
        enrolled = cli.json(
            "--role",
            "investigator",
            "patient",
            "enrol",
            trial_id,
            "--site",
            "S3",
            "--enrolment-date",
            "2026-03-30",
        )
        assert (enrolled["cohort"], enrolled["level"]) == (1, 1)
        patients.append(enrolled["patient_id"])
    assert "cohort 1 at dose level 1 is full" in cli.refused(
        "--role",
        "investigator",
        "patient",
        "enrol",
        trial_id,
        "--site",
        "S3",
        "--enrolment-date",
        "2026-03-30",
    )
    first = patients[0]
    assert "no baseline eye exam" in cli.refused(
        *INV, "patient", "start-dosing", first, "--date", "2026-04-01"
    )
    assert "20/0" in cli.refused(
        *INV,
        "patient",
        "eye-exam",
        first,
        "--date",
        "2026-04-01",
        "--bcva-right",
        "20/0",
        "--bcva-left",
        "20/20",
    )
    for pid in patients:
        cli.json(
            *INV,
            "patient",
            "eye-exam",
            pid,
            "--date",
            "2026-04-01",
            "--bcva-right",
            "20/20",
            "--bcva-left",
            "20/32",
        )
        assert "no baseline skin exam" in cli.refused(
            *INV, "patient", "start-dosing", pid, "--date", "2026-04-02"
        )
        cli.json(*INV, "patient", "skin-exam", pid, "--date", "2026-04-01", "--findings", "none")
        cli.json(*INV, "patient", "start-dosing", pid, "--date", "2026-04-02")
    assert "a DLT needs a description" in cli.refused(
        *INV, "patient", "dlt-outcome", first, "dlt", "--date", "2026-04-10"
    )
    cli.json(
        *INV,
        "patient",
        "dlt-outcome",
        first,
        "dlt",
        "--date",
        "2026-04-10",
        "--description",
        "Grade 3 neutropenia with fever",
    )
    for pid in patients[1:]:
        cli.json(
            *INV,
            "patient",
            "dlt-outcome",
            pid,
            "no_dlt",
            "--date",
            "2026-05-01",
            "--doses-taken",
            "1",
        )
    assert cli.refused("trial", "decide", trial_id, "--cohort", "1", "--decision", "expand") == (
        "doseledger: error: trial decide signs for the safety review committee: "
        "--role admin may not (allowed: src_member)"
    )
    assert "a reason is required" in cli.refused(
        "--role",
        "src_member",
        "trial",
        "decide",
        trial_id,
        "--cohort",
        "1",
        "--decision",
        "escalate",
    )
    row = cli.json(
        "--role", "src_member", "trial", "decide", trial_id, "--cohort", "1", "--decision", "expand"
    )
    assert (row["cohort"], row["level"], row["origin"]) == (2, 1, "expansion")
    shown = cli.json("trial", "show", trial_id)
    assert shown["outcomes"] == "1TNN"
    assert shown["cohorts"][0]["signed_by"] == "cli-tester"
    listed = cli.json("trials")
    assert listed == [
        {
            "id": trial_id,
            "name": shown["name"],
            "protocol": "defactinib-paclitaxel",
            "status": "escalating",
            "current_level": 1,
            "mtd": None,
        }
    ]
    code, out, _ = cli.run("trial", "show", trial_id, "--table")
    assert code == 0 and "expansion" not in out and "DL1" in out


def test_register_from_a_protocol_file_and_refuse_a_broken_one(
    cli: StoreCli, tmp_path: Path
) -> None:
    data = cli.json("protocols", "--show", "defactinib-paclitaxel")
    good = tmp_path / "custom.json"
    good.write_text(json.dumps(data | {"id": "custom-pac"}))
    assert cli.json("protocols", "--validate", str(good))["id"] == "custom-pac"
    assert cli.json("trial", "register", "--protocol-file", str(good), "--name", "Custom")
    data["dose_levels"][0]["doses"][0]["amount"] = -5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    message = cli.refused("trial", "register", "--protocol-file", str(bad))
    assert "dose_levels.0.doses.0.amount" in message


def test_demo_records_once_then_replays(cli: StoreCli) -> None:
    code, out, _ = cli.run("demo", "--reuse")
    assert code == 0 and "Recorded the demo trial" in out
    assert "MTD = DL1: defactinib 200 mg BID" in out
    assert "1NNN 2NTN 2NTN 1NNN" in out
    events = cli.events()
    code, out, _ = cli.run("demo", "--reuse")
    assert code == 0 and "Replayed the demo trial" in out
    assert cli.events() == events
    assert len(cli.json("trials")) == 1


def test_bad_database_url_is_a_one_line_error(
    cli: StoreCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", "mysql://x@y/z")
    code, out, err = cli.run("trials")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "doseledger: error: DOSELEDGER_DATABASE_URL 'mysql://x@y/z' is neither sqlite:///PATH "
        "nor postgresql://USER:PASSWORD@HOST:PORT/DB"
    ]


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("doseledger")
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    done = subprocess.run(
        [str(script), "three-plus-three", "1NNN", "--doses", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (done.returncode, json.loads(done.stdout)) == (
        0,
        {"next_dose": None, "continue": False, "mtd": 1},
    )
    bad = subprocess.run(
        [str(script), "three-plus-three", "1NNQ", "--doses", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_logs_are_json_lines_whose_request_id_is_stored_on_the_events(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("doseledger")
    url = f"sqlite:///{tmp_path}/x.db"
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": url, "DOSELEDGER_LOG_LEVEL": "INFO"}
    done = subprocess.run(
        [str(script), "trial", "register", "--template", "defactinib-paclitaxel"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    records = [json.loads(line) for line in done.stderr.splitlines()]
    recorded = [r for r in records if r["event"] == "events recorded"]
    assert len(recorded) == 1 and recorded[0]["events"] == ["Registered"]
    app = build_ledger(env=persistence_env(url))
    try:
        trial = app.trial_aggregate(UUID(json.loads(done.stdout)["trial_id"]))
        stored = app.events.get(trial.id)
        actor = next(iter(stored)).actor  # type: ignore[attr-defined]
    finally:
        app.close()
    assert actor["request_id"] == recorded[0]["request_id"]
    assert actor["client"] == "cli"
