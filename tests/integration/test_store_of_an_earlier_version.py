"""A store written by doseledger before the patient-safety change still loads and goes on.

``tests/data/store-written-at-0183fb4.sqlite`` was recorded by the code at commit 0183fb4 (the
demo trial, and a patient with 29 events on a CPK grade 3 hold, whose state at version 20 is a
snapshot of the one-hold, one-recommendation layout). The new code reads the Enrolled events
through their upcaster (no enrolment date, no site zone); the Patient snapshot, of an earlier
layout, is set aside as if absent (snapshots are never upcast): the patient is replayed from its
events until its next snapshot interval.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.demo import DEMO_NAME
from adapters.persistence.audit_links import latest_link
from adapters.persistence.audit_verifier import verify
from adapters.persistence.environment import persistence_env
from adapters.persistence.snapshots import AggregateSnapshot
from domain.patient import Patient
from domain.protocol_design import ThreePlusThree
from domain.trial import Trial
from projections.read_models import ReadModels
from projections.store import SQLiteStore
from projections.trial_state import trial_summary
from support import INVESTIGATOR, trial_ids

STORE = Path(__file__).parent.parent / "data" / "store-written-at-0183fb4.sqlite"
# Its audit chain was written with the public demo key of that time (there is none any more).
OLD_DEMO_KEY = "doseledger-demo-audit-key-NOT-A-SECRET"
LONG_TRIAL = "Old store: long patient"


@pytest.fixture
def old(tmp_path: Path) -> DoseLedger:
    copy = tmp_path / "old.sqlite"
    shutil.copyfile(STORE, copy)
    with closing(sqlite3.connect(copy)) as raw:  # written with the chain's index of that time
        assert raw.execute(
            "SELECT 1 FROM sqlite_master WHERE name='audit_chain_originator_idx'"
        ).fetchone()
    ledger = build_ledger(
        env=persistence_env(f"sqlite:///{copy}", audit_key=OLD_DEMO_KEY),
        clock=lambda: dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC),
    )
    yield ledger
    ledger.close()


def _long_patient(ledger: DoseLedger) -> UUID:
    (trial_id,) = [t for t in trial_ids(ledger) if ledger.trial(t)["name"] == LONG_TRIAL]
    (patient_id,) = ledger.trial_aggregate(trial_id).patient_cohort
    return patient_id


def _replayed(ledger: DoseLedger, patient_id: UUID, version: int | None = None) -> Patient:
    """The patient rebuilt from its events alone (no snapshot), up to a version."""
    patient = None
    for event in ledger.events.get(patient_id, lte=version):
        patient = event.mutate(patient)  # type: ignore[attr-defined]
    assert isinstance(patient, Patient)
    return patient


def test_every_aggregate_of_the_old_store_loads_and_its_audit_chain_holds(
    old: DoseLedger, tmp_path: Path
) -> None:
    trials = list(trial_ids(old))
    assert [old.trial(t)["name"] for t in trials] == [DEMO_NAME, LONG_TRIAL]
    patients = [p for t in trials for p in old.trial_aggregate(t).patient_cohort]
    assert len(patients) == 14
    for patient_id in patients:
        summary = old.patient(patient_id)
        assert summary["site_time_zone"] == "UTC"
        assert summary["enrolment_date"] is None  # not recorded then: no bound on old dates
    assert verify(old.recorder).ok
    # The chain's index on its columns is dropped (it cost every commit); its links hold.
    indexes = old.recorder.readers.fetchall("SELECT name FROM sqlite_master WHERE type='index'", [])
    assert "audit_chain_originator_idx" not in [row[0] for row in indexes]
    last = old.recorder.select_notifications(start=1, limit=10_000)[-1]
    link = latest_link(old.recorder, [(str(last.originator_id), last.originator_version)])
    assert link is not None and link.position == last.id
    projections = ReadModels(old, SQLiteStore(str(tmp_path / "views.db")))
    try:
        assert projections.catch_up()["position"] == old.recorder.max_notification_id()
        assert projections.check().equal
    finally:
        projections.close()


def test_the_old_snapshot_of_a_held_patient_is_set_aside_and_its_events_give_its_requirements(
    old: DoseLedger,
) -> None:
    patient_id = _long_patient(old)
    assert old.recorder.select_events(patient_id, limit=1)  # the events are there
    assert old.snapshots is not None
    (stored,) = old.snapshots.recorder.select_events(patient_id)
    assert (stored.originator_version, stored.topic) == (20, "doseledger:patient.Snapshot")
    assert list(old.snapshots.get(patient_id)) == []  # of an earlier layout: as if absent
    loaded = old.patient_aggregate(patient_id)  # so the events are replayed
    replayed = _replayed(old, patient_id)
    assert old.patient(patient_id)["requirements"] == [
        r.as_record() for r in replayed.requirements.values()
    ]
    assert loaded.holds == replayed.holds and loaded.dose_days == replayed.dose_days
    (held,) = loaded.requirements.values()
    assert (held.action, held.rule, held.held_since, held.deadline) == (
        "withhold",
        "cpk-g3",
        dt.date(2026, 2, 26),
        dt.date(2026, 3, 19),
    )
    assert loaded.dosing_status == "withheld"
    again = build_ledger(env=old.env)  # a new process, without the cache, replays them too
    try:
        assert again.patient(patient_id) == old.patient(patient_id)
    finally:
        again.close()


def test_an_old_patient_takes_the_new_commands(old: DoseLedger) -> None:
    patient_id = _long_patient(old)
    (ae_id,) = old.patient_aggregate(patient_id).adverse_events
    with pytest.raises(Exception, match="withheld from 2026-02-26"):
        old.administer_dose(patient_id, dt.date(2026, 3, 1), INVESTIGATOR)
    resume = old.change_ae_grade(patient_id, ae_id, 1, dt.date(2026, 3, 10), INVESTIGATOR)
    assert resume is not None and (resume["action"], resume["resume"]) == ("resume", "same")
    state = old.record_dose_action(patient_id, "resume", dt.date(2026, 3, 11), INVESTIGATOR)
    assert state["dosing"] == "on treatment"
    assert old.administer_dose(patient_id, dt.date(2026, 3, 12), INVESTIGATOR) is False
    # Its next snapshot interval (every 20 events) takes a snapshot of today's layout.
    dose_day = dt.date(2026, 3, 13)
    while old.patient_aggregate(patient_id).version < 40:
        old.administer_dose(patient_id, dose_day, INVESTIGATOR)
        dose_day += dt.timedelta(days=1)
    assert old.snapshots is not None
    stored = old.snapshots.recorder.select_events(patient_id)
    assert [(s.originator_version, s.topic) for s in stored] == [
        (20, "doseledger:patient.Snapshot"),
        (40, AggregateSnapshot.TOPIC),
    ]
    (snapshot,) = old.snapshots.get(patient_id)
    rebuilt = snapshot.mutate(None)  # type: ignore[attr-defined]
    assert vars(rebuilt) == vars(_replayed(old, patient_id, 40))


def test_the_old_trials_are_3_3_trials_that_replay_unchanged(old: DoseLedger) -> None:
    for trial_id in trial_ids(old):
        registered = next(iter(old.events.get(trial_id)))
        loaded = old.trial_aggregate(trial_id)
        assert isinstance(loaded.protocol.design, ThreePlusThree)
        # The design reads back exactly as it was recorded, and replays to the same trial.
        assert loaded.protocol.design.model_dump(mode="json") == registered.protocol["design"]
        replayed = None
        for event in old.events.get(trial_id):
            replayed = event.mutate(replayed)  # type: ignore[attr-defined]
        assert isinstance(replayed, Trial)
        assert trial_summary(replayed) == old.trial(trial_id)
        assert "eliminated" not in old.trial(trial_id)["design"]
    demo = old.trial(trial_ids(old)[0])
    assert [c["decision"] for c in demo["cohorts"]] == [
        "escalate",
        "expand",
        "de-escalate",
        "declare_mtd",
    ]
    assert [c["recommendation"] for c in demo["cohorts"]] == [
        "escalate",
        "expand",
        "de-escalate",
        "declare_mtd",
    ]
