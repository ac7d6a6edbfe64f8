"""``doseledger scheduler`` as real processes: restarted over a due time, three on one store,
and refusing bad intervals. The processes' clock is set with DOSELEDGER_CLOCK_START."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_reminders
from adapters.persistence.environment import persistence_env
from cli_runner import CliRunner
from domain.patient import Patient
from domain.protocol import template
from domain.reminder_schedule import start_of
from processes import Process, running, wait_until
from support import INVESTIGATOR, ae, day, dosing

ISSUED_TOPIC = "doseledger:reminder.Issued"


def _ledger(url: str) -> DoseLedger:
    return build_ledger(env=persistence_env(url))


def _cpk_hold(ledger: DoseLedger) -> tuple[UUID, UUID]:
    """A trial of 3 patients dosing from day 1; the first on a grade 4 CPK hold from day 40."""
    _, patients = dosing(ledger, template("defactinib-avutometinib"), count=3)
    ae_id = UUID(ae(ledger, patients[0], "CPK increased", 4, 40)["ae_id"])
    ledger.record_dose_action(patients[0], "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    return patients[0], ae_id


def _env(url: str, clock_start: dt.datetime) -> dict[str, str]:
    return {
        "DOSELEDGER_DATABASE_URL": url,
        "DOSELEDGER_LOG_LEVEL": "INFO",
        "DOSELEDGER_CLOCK_START": clock_start.isoformat(),
    }


def _ticks(process: Process) -> list[dict[str, Any]]:
    return process.events("reminders tick")


def _issued_events(ledger: DoseLedger) -> Counter[UUID]:
    """Reminder.Issued events in the whole notification log, by reminder id."""
    counts: Counter[UUID] = Counter()
    start = 1
    while page := ledger.recorder.select_notifications(start=start, limit=500):
        counts.update(n.originator_id for n in page if n.topic == ISSUED_TOPIC)
        start = page[-1].id + 1
    return counts


def test_a_reminder_due_while_no_scheduler_ran_fires_once_on_the_next_start(
    database_url: str, tmp_path: Path
) -> None:
    ledger = _ledger(database_url)
    try:
        pid, _ = _cpk_hold(ledger)
        (window,) = [r for r in build_reminders(ledger).open() if r.kind == "cpk_recovery_window"]
        assert window.due_at == start_of(day(62))
        before = start_of(day(61)) + dt.timedelta(hours=12)
        argv = ["scheduler", "--tick-seconds", "1"]
        with running(argv, _env(database_url, before), tmp_path / "first.log") as first:
            wait_until(lambda: len(_ticks(first)) >= 2, "two ticks", first)
            assert first.stop() == 0
        fired = [r for tick in _ticks(first) for r in tick["reminders"]]
        assert {r["kind"] for r in fired} == {"dlt_window_end", "ophthalmology_follow_up"}
        assert window.id not in _issued_events(ledger)
        assert first.events("scheduler stopped")

        after = start_of(day(62)) + dt.timedelta(hours=6)
        with running(argv, _env(database_url, after), tmp_path / "second.log") as second:
            wait_until(lambda: len(_ticks(second)) >= 3, "three ticks", second)
            assert second.stop() == 0
        ticks = _ticks(second)
        assert {"id": str(window.id), "kind": "cpk_recovery_window"} in ticks[0]["reminders"]
        assert [t["issued"] for t in ticks[1:]] == [0] * (len(ticks) - 1)
        assert _issued_events(ledger)[window.id] == 1
        assert ledger.repository.get(window.id).fired_at >= after
        (required,) = ledger.patient_aggregate(pid).discontinue_requirements
        assert required.rule == "cpk-not-recovered"
    finally:
        ledger.close()


@pytest.mark.postgres
def test_three_schedulers_on_one_store_issue_each_due_reminder_once(
    postgres_url: str, tmp_path: Path
) -> None:
    at = start_of(day(70)) + dt.timedelta(hours=1)  # CPK windows and holds expired by then
    ledger = _ledger(postgres_url)
    try:
        cpk_patients = [_cpk_hold(ledger)[0] for _ in range(6)]
        due = {r.id: r for r in build_reminders(ledger).due(at)}
        assert len(due) >= 40
        assert Counter(r.kind for r in due.values())["cpk_recovery_window"] == 6
        argv = ["scheduler", "--tick-seconds", "1"]
        with (
            running(argv, _env(postgres_url, at), tmp_path / "a.log") as a,
            running(argv, _env(postgres_url, at), tmp_path / "b.log") as b,
            running(argv, _env(postgres_url, at), tmp_path / "c.log") as c,
        ):
            trio = (a, b, c)
            wait_until(lambda: all(len(_ticks(p)) >= 3 for p in trio), "three ticks in each", *trio)
            assert [p.stop() for p in trio] == [0, 0, 0]
        issued = _issued_events(ledger)
        assert set(issued) == set(due)
        assert set(issued.values()) == {1}
        claimed = Counter(r["id"] for p in trio for tick in _ticks(p) for r in tick["reminders"])
        assert claimed == Counter(str(i) for i in due)  # each claimed by exactly one process
        for pid in cpk_patients:
            reviews = [
                e
                for e in ledger.repository.event_store.get(pid)
                if isinstance(e, Patient.DoseRecommended)
                and e.recommendation["rule"] == "cpk-not-recovered"
            ]
            assert len(reviews) == 1  # the discontinuation recommendation, recorded once
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scheduler", "--tick-seconds", "0"], "0 seconds is outside 1-86400"),
        (["scheduler", "--tick-seconds", "abc"], "'abc' is not a whole number of seconds"),
        (["scheduler", "--tick-seconds", "1.5"], "'1.5' is not a whole number of seconds"),
        (["serve", "--tick-seconds", "-3"], "-3 seconds is outside 1-86400"),
    ],
)
def test_a_bad_tick_interval_exits_2_and_appends_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    argv: list[str],
    message: str,
) -> None:
    ledger = _ledger(sqlite_url)
    try:
        _cpk_hold(ledger)  # reminders are due: a tick would append
        before = ledger.recorder.max_notification_id()
        monkeypatch.setenv("DOSELEDGER_DATABASE_URL", sqlite_url)
        line = CliRunner(capsys).refused(*argv)
        assert "--tick-seconds" in line and message in line
        for bad in ("0", "abc"):
            monkeypatch.setenv("DOSELEDGER_TICK_SECONDS", bad)
            line = CliRunner(capsys).refused("scheduler")
            assert line.startswith("doseledger: error: setting DOSELEDGER_TICK_SECONDS:")
        assert ledger.recorder.max_notification_id() == before
    finally:
        ledger.close()
