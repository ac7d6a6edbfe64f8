"""``doseledger reminders due`` and ``doseledger reminders tick`` as a user runs them."""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from cli_runner import CliRunner
from domain.protocol import template
from support import INVESTIGATOR, ae, day, dosing

FIELDS = {"id", "kind", "patient_id", "trial_id", "due_at"}
INV = ("--role", "investigator")


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", sqlite_url)
    return CliRunner(capsys)


def _store(sqlite_url: str) -> DoseLedger:
    return build_ledger(env=persistence_env(sqlite_url))


def _notifications(sqlite_url: str) -> int:
    ledger = _store(sqlite_url)
    try:
        return ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()


@pytest.fixture
def cpk_story(sqlite_url: str) -> tuple[str, str]:
    """A patient (dosing from 2026-03-02) on a grade 4 CPK hold from day 40 (2026-04-10)."""
    ledger = _store(sqlite_url)
    try:
        trial_id, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
        ae_id = UUID(ae(ledger, pid, "CPK increased", 4, 40)["ae_id"])
        ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    finally:
        ledger.close()
    return str(trial_id), str(pid)


def test_due_lists_without_changing_anything_and_tick_fires_once(
    cli: CliRunner, sqlite_url: str, cpk_story: tuple[str, str]
) -> None:
    trial_id, pid = cpk_story
    assert cli.json("reminders", "due", "--at", "2026-03-01T00:00:00Z") == []
    before = _notifications(sqlite_url)
    due = cli.json("reminders", "due", "--at", "2026-05-01T00:00:00Z")  # day 61: still in time
    assert _notifications(sqlite_url) == before
    assert all(set(r) == FIELDS for r in due)
    assert {r["kind"] for r in due} == {"dlt_window_end", "ophthalmology_follow_up"}
    assert {(r["trial_id"], r["patient_id"]) for r in due} == {(trial_id, pid)}

    fired = cli.json("reminders", "tick", "--at", "2026-05-02T00:00:00+00:00")
    assert {r["kind"] for r in fired} == {
        "dlt_window_end",
        "ophthalmology_follow_up",
        "cpk_recovery_window",
    }
    (window,) = [r for r in fired if r["kind"] == "cpk_recovery_window"]
    assert window["due_at"] == "2026-05-02T00:00:00+00:00"
    assert cli.json("reminders", "tick", "--at", "2026-05-02T00:00:00Z") == []
    assert cli.json("reminders", "due", "--at", "2026-05-02T00:00:00Z") == []
    later = cli.json("reminders", "tick", "--at", "2026-05-09T00:00:00")  # no offset: UTC
    assert [r["kind"] for r in later] == ["hold_unresolved"]
    assert cli.json("reminders", "tick", "--at", "2026-05-09T00:00:00") == []


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-01", ""])
def test_bad_timestamps_exit_2_and_record_nothing(
    cli: CliRunner, sqlite_url: str, cpk_story: tuple[str, str], at: str
) -> None:
    before = _notifications(sqlite_url)
    for command in ("due", "tick"):
        assert "ISO 8601" in cli.refused("reminders", command, "--at", at)
    assert _notifications(sqlite_url) == before


def test_an_empty_store_has_nothing_due(cli: CliRunner) -> None:
    assert cli.json("reminders", "tick", "--at", "2030-01-01T00:00:00Z") == []
    assert cli.refused("reminders").startswith("doseledger reminders: error:")


def test_an_on_treatment_eye_exam_clears_the_referral_and_bad_input_exits_2(
    cli: CliRunner, sqlite_url: str
) -> None:
    ledger = _store(sqlite_url)
    try:
        _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
        ae(ledger, pid, "Blurred vision", None, 20, eye="left", bcva="20/50")
    finally:
        ledger.close()
    at = ("--at", "2026-04-01T00:00:00Z")  # the referral fell due on 2026-03-29
    assert "ophthalmology_referral" in {r["kind"] for r in cli.json("reminders", "due", *at)}
    exam = (*INV, "patient", "eye-exam", str(pid), "--bcva-right", "20/20", "--bcva-left", "20/40")
    before = _notifications(sqlite_url)
    for bad in (
        ("--date", "2026-03-22", "--purpose", "yearly"),  # unknown purpose
        ("--date", "2026-02-01", "--purpose", "referral"),  # before the first dose
        ("--date", "2026-03-22", "--purpose", "referral", "--bcva-left", "blurry"),
    ):
        code, out, err = cli.run(*exam, *bad)
        assert (code, out) == (2, ""), err
        assert len(err.strip().splitlines()) == 1, err
    assert _notifications(sqlite_url) == before
    recorded = cli.json(*exam, "--date", "2026-03-22", "--purpose", "referral")
    assert recorded["recorded"] == "referral_eye_exam"
    assert "ophthalmology_referral" not in {r["kind"] for r in cli.json("reminders", "due", *at)}


def test_the_demo_leaves_follow_ups_due(cli: CliRunner, sqlite_url: str) -> None:
    cli.text("demo")
    due = cli.json("reminders", "due")  # now: the demo's clinical dates are in early 2026
    kinds = {r["kind"] for r in due}
    assert {"cpk_recovery_window", "hold_unresolved", "ophthalmology_referral"} <= kinds
    ledger = _store(sqlite_url)
    try:
        windows = [UUID(r["patient_id"]) for r in due if r["kind"] == "cpk_recovery_window"]
        grades = sorted(ledger.patient(p)["adverse_events"][-1]["grade"] for p in windows)
        assert grades == [3, 4]  # cohort 4's cycle-2 hold, and cohort 2's DLT
        (referral,) = [r for r in due if r["kind"] == "ophthalmology_referral"]
        (visual,) = ledger.patient(UUID(referral["patient_id"]))["adverse_events"]
        assert (visual["term"], visual["grade"]) == ("Blurred vision", 1)
    finally:
        ledger.close()
