"""A reminders tick that loses the store part-way (before the read-model follower noticed the
outage) logs one "reminders tick" line naming the store and what it issued before, and does
not fail the job; any other error still fails it (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
import structlog
from eventsourcing.persistence import OperationalError

from adapters.application import DoseLedger
from adapters.application.reminder_tick import Reminders
from adapters.scheduler import issue_due_reminders
from domain.protocol import template
from domain.reminder_schedule import start_of
from support import day, dosing


def _claims_failing_after(monkeypatch: pytest.MonkeyPatch, ok: int, error: Exception) -> None:
    real = Reminders._claim
    calls = 0

    def claim(self: Reminders, *args: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls > ok:
            raise error
        return real(self, *args)

    monkeypatch.setattr(Reminders, "_claim", claim)


def test_a_tick_that_loses_the_store_says_so_in_one_line_with_what_it_issued(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch, info_logs: None
) -> None:
    dosing(ledger, template("defactinib-avutometinib"), count=2)
    lost = OperationalError("server closed the connection unexpectedly")
    _claims_failing_after(monkeypatch, 1, lost)
    with structlog.testing.capture_logs() as logs:
        issue_due_reminders(ledger, lambda: start_of(day(40)))  # does not raise
    (tick,) = [line for line in logs if line["event"] == "reminders tick"]
    assert tick["store"] == str(lost)
    assert tick["issued"] == 1 and len(tick["reminders"]) == 1
    issued = tick["reminders"][0]["id"]
    assert ledger.recorder.select_events(UUID(issued), limit=1)  # recorded before the loss
    monkeypatch.undo()
    with structlog.testing.capture_logs() as logs:
        issue_due_reminders(ledger, lambda: start_of(day(40)))  # the next tick: the rest
    (tick,) = [line for line in logs if line["event"] == "reminders tick"]
    assert tick["issued"] >= 1 and "store" not in tick
    assert issued not in {r["id"] for r in tick["reminders"]}


def test_a_tick_failing_for_another_reason_still_fails(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    dosing(ledger, template("defactinib-avutometinib"), count=1)
    _claims_failing_after(monkeypatch, 0, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        issue_due_reminders(ledger, lambda: start_of(day(40)))
