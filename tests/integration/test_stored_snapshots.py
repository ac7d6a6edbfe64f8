"""Snapshots in the store, on SQLite and PostgreSQL: loads start from the latest snapshot, and
every past version still loads as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.demo import record_demo_trial
from adapters.persistence.environment import persistence_env
from adapters.persistence.snapshots import AggregateSnapshot
from domain.patient import Patient
from domain.protocol import template
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary
from support import INVESTIGATOR, day, dosing

INTERVAL = DoseLedger.snapshotting_intervals[Patient]
HISTORY = 2 * INTERVAL + 5  # events of the long patient: two snapshots, then five events


def replayed(ledger: DoseLedger, ident: UUID, version: int | None = None) -> Any:
    """The aggregate rebuilt from all its events (up to a version), without any snapshot."""
    aggregate = None
    for domain_event in ledger.events.get(ident, lte=version):
        aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate


def state(aggregate: Any) -> dict[str, Any]:
    return dict(vars(aggregate))


def long_patient(ledger: DoseLedger) -> UUID:
    """A patient with HISTORY events: enrolment, baseline exams, first dose, daily doses."""
    _, [patient_id] = dosing(ledger, template("defactinib-avutometinib"))
    version = ledger.patient_aggregate(patient_id).version
    for n in range(HISTORY - version):
        ledger.administer_dose(patient_id, day(2 + n), INVESTIGATOR)
    assert ledger.patient_aggregate(patient_id).version == HISTORY
    return patient_id


@pytest.fixture
def fresh(database_url: str, ledger: DoseLedger) -> Iterator[DoseLedger]:
    """A second DoseLedger on the same store, with nothing cached."""
    app = build_ledger(env=persistence_env(database_url))
    try:
        yield app
    finally:
        app.close()


def test_a_long_patient_loads_from_its_latest_snapshot(
    ledger: DoseLedger, fresh: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id = long_patient(ledger)
    trial_id = ledger.patient_aggregate(patient_id).trial_id
    assert ledger.snapshots is not None and fresh.snapshots is not None
    snapshots = list(ledger.snapshots.get(patient_id))
    assert [s.originator_version for s in snapshots] == [INTERVAL, 2 * INTERVAL]
    stored = ledger.snapshots.recorder.select_events(patient_id)
    assert {s.topic for s in stored} == {AggregateSnapshot.TOPIC}  # one class, every aggregate
    assert {s.topic for s in snapshots} == {"doseledger:patient"}
    assert list(ledger.snapshots.get(trial_id)) == []  # the trial has a few events only

    # A cold load reads the latest snapshot and only the events after it.
    reads: list[dict[str, Any]] = []
    event_store = fresh.repository.event_store
    original_get = event_store.get

    def spy(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs)
        return original_get(*args, **kwargs)

    monkeypatch.setattr(event_store, "get", spy)
    loaded = fresh.patient_aggregate(patient_id)
    monkeypatch.undo()
    assert [r.get("gt") for r in reads] == [2 * INTERVAL]
    full = replayed(fresh, patient_id)
    assert state(loaded) == state(full)
    assert patient_summary(loaded) == patient_summary(full)
    assert state(ledger.patient_aggregate(patient_id)) == state(full)

    # Both applications carry on from there, each seeing the other's events.
    fresh.administer_dose(patient_id, day(HISTORY), INVESTIGATOR)
    ledger.administer_dose(patient_id, day(HISTORY + 1), INVESTIGATOR)
    assert ledger.patient(patient_id) == fresh.patient(patient_id)
    assert state(fresh.patient_aggregate(patient_id)) == state(replayed(fresh, patient_id))


def test_every_past_version_of_a_long_patient_loads_as_it_was(ledger: DoseLedger) -> None:
    patient_id = long_patient(ledger)
    aggregate = None
    for domain_event in ledger.events.get(patient_id):
        aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
        past = ledger.patient_aggregate(patient_id, version=domain_event.originator_version)
        assert state(past) == state(aggregate)
    assert aggregate is not None and aggregate.version == HISTORY


def test_snapshots_taken_along_a_whole_trial_leave_every_version_as_it_was(
    ledger: DoseLedger, fresh: DoseLedger
) -> None:
    # Small intervals: snapshots are taken all through the demo, between the commands that
    # load the aggregates they snapshot (from the cache, and from the store).
    ledger.snapshotting_intervals = {Trial: 3, Patient: 2}  # type: ignore[misc]
    trial_id = record_demo_trial(ledger)
    summary = ledger.trial(trial_id)
    assert summary["mtd"] == 1
    assert [c["decision"] for c in summary["cohorts"]] == [
        "escalate",
        "expand",
        "de-escalate",
        "declare_mtd",
    ]
    assert ledger.snapshots is not None
    trial = ledger.trial_aggregate(trial_id)
    assert len(list(ledger.snapshots.get(trial_id))) == trial.version // 3

    for ident in [trial_id, *trial.patient_cohort]:
        events = list(ledger.events.get(ident))
        assert len(list(ledger.snapshots.get(ident))) == len(events) // (
            3 if ident == trial_id else 2
        )
        aggregate = None
        for domain_event in events:
            aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
            past = ledger.repository.get(ident, version=domain_event.originator_version)
            assert state(past) == state(aggregate)
        current = fresh.repository.get(ident)
        assert state(current) == state(aggregate)
        if isinstance(aggregate, Trial):
            assert trial_summary(current) == trial_summary(aggregate)
        else:
            assert patient_summary(current) == patient_summary(aggregate)
