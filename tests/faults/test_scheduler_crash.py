"""Issue 14: two ``doseledger scheduler`` processes on one PostgreSQL database, one of them
killed with SIGKILL in the middle of a tick and started again: every due reminder is issued
exactly once (none twice, none skipped), and each expired CPK window's hold review is recorded
once. Issuing is saving version 1 of the reminder's own aggregate: the store decides."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_reminders
from adapters.persistence.environment import persistence_env
from domain.patient import Patient
from domain.protocol import template
from domain.reminder_schedule import start_of
from fault_cluster import env_of, fresh_database
from processes import DEADLINE_SECONDS, running, wait_until
from support import INVESTIGATOR, ae, day, dosing

ISSUED = "doseledger:reminder.Issued"


def _issued(ledger: DoseLedger) -> Counter[UUID]:
    counts: Counter[UUID] = Counter()
    start = 1
    while page := ledger.recorder.select_notifications(start=start, limit=500):
        counts.update(n.originator_id for n in page if n.topic == ISSUED)
        start = page[-1].id + 1
    return counts


def _patients_on_cpk_hold(ledger: DoseLedger, count: int) -> list[UUID]:
    held = []
    for _ in range(count):
        _, patients = dosing(ledger, template("defactinib-avutometinib"), count=3)
        ae_id = UUID(ae(ledger, patients[0], "CPK increased", 4, 40)["ae_id"])
        ledger.record_dose_action(patients[0], "hold", day(40), INVESTIGATOR, ae_id=ae_id)
        held.append(patients[0])
    return held


def test_a_scheduler_killed_mid_tick_beside_another_fires_each_reminder_once(
    tmp_path: Path,
) -> None:
    at = start_of(day(70)) + dt.timedelta(hours=1)
    with fresh_database() as url:
        ledger = build_ledger(env=persistence_env(url))
        try:
            held = _patients_on_cpk_hold(ledger, 8)
            due = {r.id for r in build_reminders(ledger).due(at)}
            assert len(due) >= 50
            env = env_of(url, DOSELEDGER_CLOCK_START=at.isoformat())
            argv = ["scheduler", "--tick-seconds", "1"]
            with running(argv, env, tmp_path / "victim.log") as victim:
                # Killed as soon as its first tick has issued some, not all: mid-tick.
                deadline = time.monotonic() + DEADLINE_SECONDS
                while not _issued(ledger) and time.monotonic() < deadline:
                    time.sleep(0.01)
                victim.popen.send_signal(signal.SIGKILL)
                victim.popen.wait()
            issued_before = _issued(ledger)
            assert 0 < len(issued_before) < len(due), "the kill did not land mid-tick"
            assert not victim.events("reminders tick")  # its tick never finished
            with (
                running(argv, env, tmp_path / "other.log") as other,
                running(argv, env, tmp_path / "restarted.log") as restarted,
            ):
                pair = (other, restarted)

                def done() -> bool:
                    return all(len(p.events("reminders tick")) >= 2 for p in pair)

                wait_until(done, "two ticks in each scheduler", *pair)
                assert [p.stop() for p in pair] == [0, 0]
            issued = _issued(ledger)
            assert set(issued) == due  # none skipped
            assert set(issued.values()) == {1}  # none twice
            claimed = Counter(
                r["id"]
                for p in pair
                for tick in p.events("reminders tick")
                for r in tick["reminders"]
            )
            assert set(claimed.values()) <= {1}
            assert set(claimed) == {str(i) for i in due - set(issued_before)}
            for pid in held:
                reviews = [
                    e
                    for e in ledger.repository.event_store.get(pid)
                    if isinstance(e, Patient.DoseRecommended)
                    and e.recommendation["rule"] == "cpk-not-recovered"
                ]
                assert len(reviews) == 1
        finally:
            ledger.close()
