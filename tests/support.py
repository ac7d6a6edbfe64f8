"""Builders shared by the tests: actors, protocols with N levels, and trial drivers."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from adapters.application import DoseLedger
from domain.actors import Actor
from domain.ae_report import AdverseEventReport
from domain.errors import DomainError
from domain.patient import Patient
from domain.protocol import Protocol, protocol_from_mapping, template
from domain.trial import Trial
from projections.read_models import ReadModels
from projections.store import open_store

INVESTIGATOR = Actor(user_id="inv-1", role="investigator", name="Dr Test")
SRC = Actor(user_id="src-1", role="src_member", name="Dr Chair")
ADMIN = Actor(user_id="admin-1", role="admin")
DAY0 = dt.date(2026, 3, 2)
TODAY = DAY0 + dt.timedelta(days=400)
"""The site's today in tests that call aggregates directly (every test date is before it)."""
SCHEDULE = template("defactinib-avutometinib").schedule
_subjects = itertools.count(1)


def protocol_with(levels: int, *, deescalate: bool, starting_level: int = 1) -> Protocol:
    """A paclitaxel-style protocol with ``levels`` dose levels of rising defactinib."""
    data: dict[str, Any] = template("defactinib-paclitaxel").model_dump(mode="json")
    data["id"] = f"test-{levels}-levels"
    data["design"]["deescalate"] = deescalate
    data["design"]["starting_level"] = starting_level
    paclitaxel = data["dose_levels"][0]["doses"][1]
    ladder = []
    data["dose_levels"] = []
    for level in range(1, levels + 1):
        dose = {"agent": "defactinib", "amount": 100 * level, "unit": "mg", "frequency": "BID"}
        ladder.insert(0, dose)
        data["dose_levels"].append({"level": level, "doses": [dose, paclitaxel]})
    data["reduction_ladders"] = {"defactinib": ladder}
    return protocol_from_mapping(data)


def old_pembrolizumab_gemcitabine_template() -> dict[str, Any]:
    """The pembrolizumab + gemcitabine template as trials stored it before levels were ordered.

    Gemcitabine 600/800/1000/800/1000 mg/m2 (down from DL3 to DL4) and a two-step ladder.
    """
    data: dict[str, Any] = template("defactinib-pembrolizumab-gemcitabine").model_dump(mode="json")
    for level, amount in zip(data["dose_levels"], (600, 800, 1000, 800, 1000), strict=True):
        level["doses"][2]["amount"] = amount
    data["reduction_ladders"]["defactinib"] = data["reduction_ladders"]["defactinib"][:2]
    data.pop("ctcae_versions", None)  # not a field then
    return data


def new_trial(levels: int = 3, *, deescalate: bool = True, starting_level: int = 1) -> Trial:
    """A registered Trial aggregate (not saved anywhere)."""
    protocol = protocol_with(levels, deescalate=deescalate, starting_level=starting_level)
    return Trial(
        id=uuid4(), protocol=protocol.model_dump(mode="json"), name="t", actor=ADMIN.as_record()
    )


def interval_protocol(levels: int = 5, **design: Any) -> Protocol:
    """``protocol_with(levels)`` under an interval design (default BOIN, target 0.3)."""
    data = protocol_with(levels, deescalate=True).model_dump(mode="json")
    data["id"] = f"test-{levels}-levels-interval"
    data["design"] = {"kind": "boin", "target": 0.3, **design}
    return protocol_from_mapping(data)


def interval_trial(levels: int = 5, **design: Any) -> Trial:
    """A registered Trial aggregate under an interval design (not saved anywhere)."""
    protocol = interval_protocol(levels, **design)
    return Trial(
        id=uuid4(), protocol=protocol.model_dump(mode="json"), name="t", actor=ADMIN.as_record()
    )


def new_patient(
    window: int = 28,
    *,
    patient_id: UUID | None = None,
    trial_id: UUID | None = None,
    subject_id: str = "S01-001",
    enrolled: dt.date = DAY0 - dt.timedelta(days=7),
    zone: str = "UTC",
    doses: bool = True,
    actor: Actor = INVESTIGATOR,
) -> Patient:
    """An enrolled Patient aggregate (not saved anywhere): site S01, cohort 1, dose level 1 of
    defactinib + avutometinib (``doses=False``: none), a DLT window of ``window`` days."""
    level = template("defactinib-avutometinib").dose_level(1).doses
    return Patient(
        id=patient_id or uuid4(),
        trial_id=trial_id or uuid4(),
        subject_id=subject_id,
        site_id="S01",
        cohort=1,
        level=1,
        doses=[d.model_dump(mode="json") for d in level] if doses else [],
        dlt_window_days=window,
        enrolment_date=enrolled,
        actor=actor.as_record(),
        site_time_zone=zone,
    )


def run_cohort(trial: Trial, letters: str) -> list[UUID]:
    """Enrol one patient per letter into the open cohort and record N (no DLT) / T (DLT) / X."""
    patients = []
    for letter in letters:
        patient_id = uuid4()
        trial.enrol(patient_id, f"S-{next(_subjects):05d}", "S01", INVESTIGATOR)
        outcome = {"N": "no_dlt", "T": "dlt", "X": "not_evaluable"}[letter]
        trial.record_outcome(
            patient_id,
            outcome,
            DAY0,
            INVESTIGATOR,
            description="Grade 3 fatigue",
            reason="withdrew",
        )
        patients.append(patient_id)
    return patients


def follow_recommendation(trial: Trial) -> str:
    """Have the SRC sign exactly what the trial's design recommends; returns the action."""
    rec = trial.recommendation()
    assert rec is not None
    trial.sign_decision(
        trial.open_cohort.number,
        rec.action,
        SRC,
        meaning="approval",
        mtd_level=rec.mtd if rec.action == "declare_mtd" else None,
    )
    return rec.action


def refused_without_event(aggregate: Aggregate, command: Callable[[Any], object]) -> str | None:
    """Run a command that must be refused; checks it appended nothing, returns its rule."""
    before = (len(aggregate.pending_events), aggregate.version)
    with pytest.raises(DomainError) as caught:
        command(aggregate)
    assert (len(aggregate.pending_events), aggregate.version) == before
    return getattr(caught.value, "rule", None)


def replay(aggregate: Aggregate) -> Any:
    """Rebuild an aggregate from the events it has triggered (without clearing them)."""
    rebuilt = None
    for domain_event in list(aggregate.pending_events):
        rebuilt = domain_event.mutate(rebuilt)
    return rebuilt


def day(n: int) -> dt.date:
    """Study day n (day 1 is the first dose)."""
    return DAY0 + dt.timedelta(days=n - 1)


def at_level(template_id: str, level: int) -> Protocol:
    data = template(template_id).model_dump(mode="json")
    data["design"]["starting_level"] = level
    return protocol_from_mapping(data)


def dosing(ledger: DoseLedger, protocol: Protocol, *, count: int = 1) -> tuple[UUID, list[UUID]]:
    trial_id = ledger.register_trial(protocol, ADMIN)
    patients = []
    for _ in range(count):
        pid = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)
        ledger.record_baseline_eye_exam(pid, day(0), "20/20", "20/25", INVESTIGATOR)
        ledger.record_baseline_skin_exam(pid, day(0), "no pre-existing conditions", INVESTIGATOR)
        ledger.start_dosing(pid, day(1), INVESTIGATOR)
        patients.append(pid)
    return trial_id, patients


def ae(
    ledger: DoseLedger, pid: UUID, term: str, grade: int | None, onset: int, **extra: Any
) -> dict[str, Any]:
    report = AdverseEventReport(
        term=term,
        grade=grade,
        onset=day(onset),
        attribution=extra.pop("attribution", "possible"),
        **extra,
    )
    return ledger.record_adverse_event(pid, report, INVESTIGATOR)


def enrolling(site: str, **more: Any) -> dict[str, Any]:
    """An HTTP enrolment body at ``site``, enrolled on DAY0 (the tests' clinical calendar)."""
    return {"site_id": site, "enrolment_date": DAY0.isoformat(), **more}


def trial_ids(ledger: DoseLedger) -> list[UUID]:
    """Every trial in the store, in registration order: the tests' own oracle, read from the
    log (the service lists trials from its read model)."""
    registered = ledger.recorder.select_notifications(
        None, 1_000_000, topics=[Trial.Registered.TOPIC], inclusive_of_start=True
    )
    return [n.originator_id for n in registered]


def read_models_of(ledger: DoseLedger) -> ReadModels:
    """The read models in the ledger's own database, caught up (close them after use)."""
    read_models = ReadModels(ledger, open_store(ledger.env))
    read_models.catch_up()
    return read_models


def audit_rows(
    ledger: DoseLedger, trial_id: UUID, *, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The trial's audit trail as the audit-trail read model holds it, caught up."""
    read_models = read_models_of(ledger)
    try:
        return read_models.queries.audit_trail(trial_id, as_of)
    finally:
        read_models.close()


def audit_export(ledger: DoseLedger, trial_id: UUID, fmt: str) -> str:
    """The trial's audit export, from the caught-up audit trail."""
    return ledger.audit_export(trial_id, fmt, audit_rows(ledger, trial_id))


def decidable(ledger: DoseLedger) -> tuple[UUID, list[UUID]]:
    """A trial whose first cohort is fully evaluated (no DLT): the SRC decision is due."""
    trial_id, patients = dosing(ledger, template("defactinib-avutometinib"), count=3)
    for pid in patients:
        ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)
    return trial_id, patients
