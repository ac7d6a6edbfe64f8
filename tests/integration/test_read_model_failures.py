"""An event one read model cannot process stops that read model only (and those that read from
it), is recorded once in the store, and is processed again by a retry after the fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import structlog

from adapters.application import DoseLedger
from adapters.bootstrap import build_live_read_models, build_reminders
from adapters.read_models import LiveReadModels, PositionNotReached
from domain.protocol import template
from domain.reminder_schedule import start_of
from projections.failures import ReadModelStopped
from projections.models.cohort_summary import CohortSummary
from projections.models.safety_table import SafetyTable
from support import ae, day, dosing


class Bug:
    """A handler that raises on the events of one patient until the bug is fixed."""

    def __init__(self, patient_id: UUID) -> None:
        self.patient_id = patient_id
        self.fixed = False

    def around(self, handler: Any) -> Any:
        def broken(model: Any, position: int, event: Any) -> None:
            if not self.fixed and event.originator_id == self.patient_id:
                raise ValueError("cannot place this adverse event")
            handler(model, position, event)

        return broken


@pytest.fixture
def two_trials(ledger: DoseLedger) -> tuple[UUID, UUID, UUID]:
    """Two dosing trials; the first one's patient has an AE the safety table will choke on."""
    first, (patient, _) = dosing(ledger, template("defactinib-avutometinib"), count=2)
    second, (other,) = dosing(ledger, template("defactinib-paclitaxel"), count=1)
    ae(ledger, other, "Nausea", 1, 3)
    return first, second, patient


@pytest.fixture
def bug(monkeypatch: pytest.MonkeyPatch, two_trials: tuple[UUID, UUID, UUID]) -> Bug:
    found = Bug(two_trials[2])
    monkeypatch.setattr(SafetyTable, "_recorded", found.around(SafetyTable._recorded))
    return found


@pytest.fixture
def live(ledger: DoseLedger, bug: Bug) -> Iterator[LiveReadModels]:
    read_models = build_live_read_models(ledger)
    yield read_models
    read_models.close()


def test_a_failing_read_model_stops_alone_and_the_others_and_the_reminders_go_on(
    ledger: DoseLedger, two_trials: tuple[UUID, UUID, UUID], bug: Bug, live: LiveReadModels
) -> None:
    first, second, patient = two_trials
    with structlog.testing.capture_logs() as logs:
        before = ledger.recorder.max_notification_id() or 0
        ae(ledger, patient, "Fatigue", 2, 4)
        failed_at = ledger.recorder.max_notification_id() or 0
        dosing(ledger, template("defactinib-avutometinib"), count=1)  # after the failure
        for _ in range(3):
            live.catch_up()

    (failure,) = live.failures()
    assert failure.read_model == "safety_table"
    assert before < failure.position <= failed_at  # the AE's own event
    assert failure.originator_id == str(patient) and failure.topic.endswith("AERecorded")
    assert "cannot place this adverse event" in failure.error
    assert list(live.stopped()) == ["safety_table"]  # nothing reads from it
    stopped_lines = [line for line in logs if line["event"].startswith("read model stopped")]
    assert len(stopped_lines) == 1 and stopped_lines[0]["read_model"] == "safety_table"

    for trial in (first, second):  # every trial's safety table: stopped, with the reason
        with pytest.raises(ReadModelStopped, match="safety_table stopped at event"):
            live.read(lambda q, t=trial: q.safety_table(t), ["safety_table"])
    cohorts = live.read(lambda q: q.cohort_summary(first), ["cohort_summary"])
    assert cohorts["cohorts"][0]["enrolled"] == 2
    head = ledger.recorder.max_notification_id() or 0
    positions = live.positions()
    assert positions["safety_table"] < failure.position <= head
    assert all(at == head for name, at in positions.items() if name != "safety_table")
    reminders = build_reminders(ledger, read_models=live)
    assert reminders.due(start_of(day(40)))  # the reminder index is fed: the tick goes on


def test_a_retry_after_the_fix_processes_the_failed_event_and_catches_up_exactly_once(
    ledger: DoseLedger, two_trials: tuple[UUID, UUID, UUID], bug: Bug, live: LiveReadModels
) -> None:
    first, _, patient = two_trials
    ae(ledger, patient, "Fatigue", 2, 4)
    ae(ledger, patient, "Headache", 1, 5)
    live.catch_up()
    assert live.stopped()

    assert live.read_models.retry(["cohort_summary"]) == []  # not stopped: nothing to retry
    live.catch_up()
    assert list(live.stopped()) == ["safety_table"]  # not fixed yet: it fails again, at once
    bug.fixed = True
    (retried,) = live.read_models.retry()
    assert retried.read_model == "safety_table"
    live.catch_up()
    assert live.stopped() == {} and live.failures() == []
    table = live.read(lambda q: q.safety_table(first), ["safety_table"])
    assert {"Fatigue", "Headache"} <= {row["term"] for row in table["terms"]}
    assert live.read_models.check().equal  # as a rebuild from zero: nothing skipped or twice


def test_read_models_that_read_from_a_stopped_one_stop_with_it(
    ledger: DoseLedger,
    two_trials: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    live: LiveReadModels,
) -> None:
    first = two_trials[0]

    def broken(self: Any, position: int, event: Any) -> None:
        raise RuntimeError("the cohort is gone")

    monkeypatch.setattr(CohortSummary, "_registered", broken)
    live2 = build_live_read_models(ledger)
    try:
        dosing(ledger, template("defactinib-avutometinib"), count=1)
        live2.catch_up()
        stopped = live2.stopped()
        assert stopped["cohort_summary"].failure.read_model == "cohort_summary"
        assert stopped["reminder_index"].failure.read_model == "cohort_summary"
        assert "reads from cohort_summary" in stopped["reminder_index"].reason
        with pytest.raises(ReadModelStopped, match="reminder_index"):
            live2.read(lambda q: q.due_reminders(start_of(day(40))), ["reminder_index"])
        assert live2.read(lambda q: q.audit_trail(first), ["audit_trail"])
    finally:
        live2.close()


def test_a_read_waits_for_a_position_and_refuses_one_not_reached_within_the_bound(
    ledger: DoseLedger, two_trials: tuple[UUID, UUID, UUID], live: LiveReadModels
) -> None:
    first = two_trials[0]
    head = ledger.recorder.max_notification_id() or 0
    found = live.read(lambda q: q.cohort_summary(first), ["cohort_summary"], min_position=head)
    assert found["cohorts"]
    with pytest.raises(PositionNotReached, match=f"not {head + 1000}"):
        live.read(
            lambda q: q.cohort_summary(first),
            ["cohort_summary"],
            min_position=head + 1000,
            wait_seconds=0.2,
        )
