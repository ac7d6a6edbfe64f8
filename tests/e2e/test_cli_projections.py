"""``doseledger projections`` as a user runs it: JSON on stdout, exit 1 on a difference, 2 on
bad input with one line on stderr."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import build_read_models
from cli_runner import CliRunner


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("DOSELEDGER_USER", "cli-tester")
    return CliRunner(capsys)


@pytest.fixture
def demo(cli: CliRunner) -> UUID:
    cli.text("demo")
    (trial,) = cli.json("trials")
    return UUID(trial["id"])


def test_rebuild_then_catch_up_then_show(cli: CliRunner, demo: UUID) -> None:
    rebuilt = cli.json("projections", "rebuild")
    assert rebuilt["events"] == rebuilt["position"] == rebuilt["rows"]["audit"] > 100
    assert rebuilt["rows"]["cohorts"] == 4 and rebuilt["rows"]["trials"] == 1
    assert cli.json("projections", "catch-up")["processed"] == 0

    trial = cli.json("trial", "register", "--template", "defactinib-paclitaxel")["trial_id"]
    patient = cli.json("--role", "investigator", "patient", "enrol", trial, "--site", "S03")
    caught = cli.json("projections", "catch-up")
    assert caught["processed"] == 4  # Registered, SiteTimeZoneRecorded, PatientEnrolled, Enrolled
    assert set(caught["positions"].values()) == {caught["position"]}

    cohorts = cli.json("projections", "show", "cohorts", str(demo))
    assert [c["decision"] for c in cohorts["cohorts"]] == [
        "escalate",
        "expand",
        "de-escalate",
        "declare_mtd",
    ]
    shown = cli.json("trial", "show", str(demo))["cohorts"]
    for ours, theirs in zip(cohorts["cohorts"], shown, strict=True):
        assert {k: ours[k] for k in theirs} == theirs
    overviews = cli.json("projections", "show", "overview")
    assert [o["trial_id"] for o in overviews] == [str(demo), trial]
    assert cli.json("projections", "show", "overview", trial)["patients"] == 1
    safety = cli.json("projections", "show", "safety", str(demo))
    assert {t["term"] for t in safety["terms"]} == {
        "CPK increased",
        "Rash acneiform",
        "Blurred vision",
    }
    timeline = cli.json("projections", "show", "timeline", patient["patient_id"])
    assert [e["kind"] for e in timeline["entries"]] == ["enrolled"]
    audit = cli.json("projections", "show", "audit", trial)
    assert [r["event"] for r in audit] == [
        "Registered",
        "SiteTimeZoneRecorded",
        "PatientEnrolled",
        "Enrolled",
    ]
    assert audit[1]["summary"] == "site S03 time zone UTC (protocol default)"
    assert audit[2]["user_id"] == "cli-tester" and audit[2]["role"] == "investigator"
    assert audit[2]["client"] == "cli" and audit[2]["request_id"]
    assert cli.json("projections", "show", "audit", trial, "--as-of", "2000-01-01T00:00:00") == []


def test_show_catches_up_first_unless_told_not_to(cli: CliRunner, demo: UUID) -> None:
    cli.json("projections", "rebuild")
    trial = cli.json("trial", "register", "--template", "defactinib-paclitaxel")["trial_id"]
    cli.refused("projections", "show", "overview", trial, "--no-catch-up")
    assert cli.json("projections", "show", "overview", trial)["patients"] == 0


def test_check_is_0_when_equal_and_1_after_a_row_is_corrupted(
    cli: CliRunner, demo: UUID, database_url: str
) -> None:
    cli.json("projections", "rebuild")
    report = cli.json("projections", "check")
    assert report["equal"] is True and report["differences"] == 0 and report["rows_compared"]

    projections = build_read_models(database_url)
    try:
        with projections.store.transaction() as tx:
            tx.execute(
                f"UPDATE {projections.store.qualified('cohorts')} SET dlts = dlts + 1 "
                "WHERE trial_id = ? AND cohort = 2",
                (str(demo),),
            )
            tx.execute(
                f"DELETE FROM {projections.store.qualified('audit')} WHERE position = 5",
            )
    finally:
        projections.close()

    code, out, err = cli.run("projections", "check")
    assert code == 1, err
    report = json.loads(out)
    assert report["equal"] is False and report["differences"] == 2
    by_table = {d["table"]: d for d in report["shown"]}
    cohort = by_table["cohorts"]
    assert cohort["key"] == {"trial_id": str(demo), "cohort": 2}
    assert (cohort["live"]["dlts"], cohort["rebuilt"]["dlts"]) == (2, 1)
    assert by_table["audit"]["live"] is None and by_table["audit"]["rebuilt"]["position"] == 5

    cli.json("projections", "rebuild")
    assert cli.json("projections", "check")["equal"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("projections", "show", "cohorts", str(uuid4())), "no trial"),
        (("projections", "show", "safety", str(uuid4())), "no trial"),
        (("projections", "show", "audit", str(uuid4())), "no trial"),
        (("projections", "show", "timeline", str(uuid4())), "no patient"),
        (("projections", "show", "cohorts"), "needs an id"),
        (("projections", "show", "cohorts", "not-a-uuid"), "not a UUID"),
        (("projections", "show", "tables", str(uuid4())), "invalid choice"),
        (("projections", "show", "audit", str(uuid4()), "--as-of", "yesterday"), "ISO 8601"),
        (("projections", "show", "cohorts", str(uuid4()), "--as-of", "2026-01-01"), "--as-of"),
        (("projections", "rebuild", "--workers", "3"), "invalid choice"),
        (("projections", "run", "--poll-seconds", "0"), "outside 1-86400"),
        (("projections", "run", "--poll-seconds", "abc"), "whole number of seconds"),
        (("projections", "retry", "--read-model", "nonsense"), "nonsense"),
        (("projections",), "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    cli: CliRunner, demo: UUID, argv: tuple[str, ...], message: str
) -> None:
    assert message in cli.refused(*argv)


def test_a_bad_database_url_exits_2(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", "mysql://nobody@nowhere/db")
    assert "DOSELEDGER_DATABASE_URL" in cli.refused("projections", "catch-up")
