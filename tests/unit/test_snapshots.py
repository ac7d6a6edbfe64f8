"""Snapshots: Trial/Patient state through the app's mapper and back, in one layout; snapshots
of any other layout are set aside (the events are replayed), and failures are loud."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.caching import SnapshotFailed
from adapters.persistence.environment import SNAPSHOT_FAILURES_VAR
from adapters.persistence.snapshots import AggregateSnapshot, SnapshotStore
from domain.ctcae import CtcaeCatalogue
from domain.errors import CommandRefused, InvalidInput
from domain.patient import Patient
from domain.protocol import template
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary
from support import (
    ADMIN,
    DAY0,
    INVESTIGATOR,
    SCHEDULE,
    SRC,
    TODAY,
    follow_recommendation,
    new_patient,
    new_trial,
    run_cohort,
    trial_ids,
)

CATALOGUE = CtcaeCatalogue.load()
PROTOCOL = template("defactinib-avutometinib")
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture(scope="module")
def mapper() -> Iterator[Mapper[UUID]]:
    """The application's mapper (its transcoder has the clinical-date transcoding)."""
    app = build_ledger(env=IN_MEMORY)
    try:
        yield app.mapper
    finally:
        app.close()


def through_store(aggregate: Aggregate, mapper: Mapper[UUID]) -> Any:
    """Snapshot the aggregate, transcode it to bytes and back, and rebuild the aggregate."""
    stored = mapper.to_stored_event(AggregateSnapshot.take(aggregate))
    assert isinstance(stored.state, bytes)
    return mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]


def state(aggregate: Aggregate) -> dict[str, Any]:
    """The aggregate's attributes, without the events it has not saved yet."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def assert_same(rebuilt: Any, original: Aggregate) -> None:
    assert type(rebuilt) is type(original)
    assert (rebuilt.id, rebuilt.version) == (original.id, original.version)
    assert state(rebuilt) == state(original)
    assert rebuilt.pending_events == []


# ----------------------------------------------------------------- one snapshot class


def test_one_snapshot_class_with_an_explicit_registered_topic_serves_every_aggregate(
    mapper: Mapper[UUID],
) -> None:
    assert (AggregateSnapshot.TOPIC, AggregateSnapshot.class_version) == ("doseledger:snapshot", 1)
    assert resolve_topic(AggregateSnapshot.TOPIC) is AggregateSnapshot
    assert DoseLedger.snapshot_class is AggregateSnapshot
    assert "Snapshot" not in vars(Trial) and "Snapshot" not in vars(Patient)
    trial = new_trial(3)
    run_cohort(trial, "NNN")
    stored = mapper.to_stored_event(AggregateSnapshot.take(trial))
    assert stored.topic == "doseledger:snapshot"
    assert (stored.originator_id, stored.originator_version) == (trial.id, trial.version)
    fields = json.loads(stored.state)
    assert fields["topic"] == "doseledger:trial" and "class_version" not in fields
    text = fields["state"]  # one JSON text, with the Trial's own class_version inside
    assert text.startswith('[{"$fields":{"cohort":["number","level",')
    assert '"$dataclass":["cohort",[1,1,' in text and '"class_version":2' in text


# ----------------------------------------------------------------- other layouts, failures


@pytest.fixture
def app() -> Iterator[DoseLedger]:
    """A ledger in memory whose trials are snapshotted every 3 events."""
    ledger = build_ledger(env=IN_MEMORY)
    ledger.snapshotting_intervals = {Trial: 3}  # type: ignore[misc]
    try:
        yield ledger
    finally:
        ledger.close()


def replayed(app: DoseLedger, ident: UUID) -> Any:
    """The aggregate rebuilt from all its stored events, without any snapshot."""
    aggregate = None
    for domain_event in app.events.get(ident):
        aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate


def current_text(app: DoseLedger, aggregate: Aggregate) -> str:
    stored = app.mapper.to_stored_event(AggregateSnapshot.take(aggregate))
    return str(json.loads(stored.state)["state"])


def stored_snapshot(
    app: DoseLedger, aggregate: Aggregate, topic: str, **fields: Any
) -> StoredEvent:
    """The aggregate's snapshot as stored under a topic, with fields of one's choosing."""
    stored = app.mapper.to_stored_event(AggregateSnapshot.take(aggregate))
    return StoredEvent(
        originator_id=aggregate.id,
        originator_version=aggregate.version,
        topic=topic,
        state=app.mapper.transcoder.encode(json.loads(stored.state) | fields),
    )


EARLIER_LAYOUTS = {
    # Before: a snapshot class per aggregate, class_version 3 (one compact text) ...
    "class_version 3": lambda app, trial: stored_snapshot(
        app, trial, "doseledger:trial.Snapshot", class_version=3
    ),
    # ... and class_version 1 (the codec's objects: no text at all).
    "class_version 1": lambda app, trial: stored_snapshot(
        app, trial, "doseledger:trial.Snapshot", state={"cohorts": {"__kind__": "list"}}
    ),
    # This layout, of a Trial whose attributes changed since (its class_version was 1).
    "aggregate class_version": lambda app, trial: stored_snapshot(
        app,
        trial,
        AggregateSnapshot.TOPIC,
        state=current_text(app, trial).replace('"class_version":2', '"class_version":1'),
    ),
    # This layout, of a Cohort whose fields changed since.
    "dataclass fields": lambda app, trial: stored_snapshot(
        app,
        trial,
        AggregateSnapshot.TOPIC,
        state=current_text(app, trial).replace('"cohort":["number",', '"cohort":["ordinal",'),
    ),
}


@pytest.mark.parametrize("layout", EARLIER_LAYOUTS)
def test_a_snapshot_of_another_layout_is_set_aside_and_the_events_replayed(
    app: DoseLedger, layout: str
) -> None:
    trial_id = app.register_trial(PROTOCOL, ADMIN)  # version 1: no snapshot yet
    trial = app.trial_aggregate(trial_id)
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events([EARLIER_LAYOUTS[layout](app, trial)])
    assert len(app.snapshots.recorder.select_events(trial_id)) == 1
    assert list(app.snapshots.get(trial_id)) == []  # as if absent: no error, not upcast
    assert state(app.repository.get(trial_id, version=1)) == state(replayed(app, trial_id))
    # The next interval takes a snapshot of this layout, which loads serve from then on.
    app.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)  # versions 2 and 3
    (current,) = app.snapshots.get(trial_id)
    assert current.originator_version == 3
    assert state(current.mutate(None)) == state(replayed(app, trial_id))


def unreadable(app: DoseLedger, trial: Aggregate) -> StoredEvent:
    """A snapshot of this layout whose text is cut short: not stale, broken."""
    return stored_snapshot(app, trial, AggregateSnapshot.TOPIC, state="[{")


def logged(capsys: pytest.CaptureFixture[str], event: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (line,) = [line for line in lines if line["event"] == event]
    return line


def test_an_unreadable_snapshot_fails_loudly_and_in_production_the_events_serve(
    app: DoseLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    trial_id = app.register_trial(PROTOCOL, ADMIN)
    trial = app.trial_aggregate(trial_id)
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events([unreadable(app, trial)])
    capsys.readouterr()
    with pytest.raises(Exception, match="cannot decode state text"):  # the suite's setting
        list(app.snapshots.get(trial_id))
    line = logged(capsys, "snapshot unreadable; its events are replayed instead")
    assert (line["level"], line["aggregate_id"], line["version"]) == ("error", str(trial_id), 1)
    assert "cannot decode state text" in line["exception"]
    production = SnapshotStore(app.mapper, app.snapshots.recorder, failures="log")
    assert list(production.get(trial_id)) == []  # as if absent, and the events serve
    assert logged(capsys, "snapshot unreadable; its events are replayed instead")


@pytest.mark.parametrize("policy", ["log", "raise"])
def test_a_snapshot_that_cannot_be_taken_is_logged_and_raised_only_where_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    monkeypatch.setenv(SNAPSHOT_FAILURES_VAR, policy)
    ledger = build_ledger(env=IN_MEMORY)
    ledger.snapshotting_intervals = {Trial: 1}  # type: ignore[misc]

    def refused(aggregate: Any) -> Any:
        raise TypeError("cannot encode a widget")

    monkeypatch.setattr(AggregateSnapshot, "take", refused)
    capsys.readouterr()
    try:
        if policy == "raise":
            with pytest.raises(SnapshotFailed, match="at version 1 failed") as failed:
                ledger.register_trial(PROTOCOL, ADMIN)
            assert isinstance(failed.value.__cause__, TypeError)
        else:
            ledger.register_trial(PROTOCOL, ADMIN)  # the command's answer is unaffected
        (trial_id,) = trial_ids(ledger)  # recorded either way: snapshots follow the commit
        assert ledger.trial_aggregate(trial_id).version == 1
    finally:
        ledger.close()
    line = logged(capsys, "snapshot failed; loads replay the events instead")
    assert (line["level"], line["aggregate_id"], line["version"]) == ("error", str(trial_id), 1)
    assert "TypeError: cannot encode a widget" in line["exception"]


# ----------------------------------------------------------------- stories


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("NNNTX"), min_size=0, max_size=24),
    st.booleans(),
)
def test_trial_stories_come_back_from_a_stored_snapshot(
    mapper: Mapper[UUID], letters: list[str], candidate: bool
) -> None:
    trial = new_trial(4)
    assert_same(through_store(trial, mapper), trial)
    while letters and trial.status == "escalating" and trial.open_cohort.open_places:
        places = trial.open_cohort.open_places
        run_cohort(trial, "".join(letters[:places]))
        letters = letters[places:]
        if trial.recommendation() is not None:
            follow_recommendation(trial)
        rebuilt = through_store(trial, mapper)
        assert trial_summary(rebuilt) == trial_summary(trial)
        assert_same(rebuilt, trial)
    if candidate and trial.status == "escalating" and trial.open_cohort.open_places:
        patient_id = uuid4()
        trial.enrol(patient_id, f"C-{patient_id.hex[:8]}", "S01", INVESTIGATOR)
        trial.raise_dlt_candidate(
            patient_id, uuid4(), DAY0, INVESTIGATOR, description="G3 rash", criterion="c"
        )
    rebuilt = through_store(trial, mapper)
    assert trial_summary(rebuilt) == trial_summary(trial)
    assert_same(rebuilt, trial)
    # The rebuilt trial carries on as the original does.
    if trial.status == "escalating" and trial.open_cohort.open_places:
        for aggregate in (trial, rebuilt):
            aggregate.enrol(UUID(int=1), "S-LAST", "S01", INVESTIGATOR)
        assert trial_summary(rebuilt) == trial_summary(trial)


TERMS = [
    "CPK increased",
    "Fatigue",
    "Rash acneiform",
    "Diarrhea",
    "Blurred vision",
    "Neutrophil count decreased",
]
ACTIONS = ["hold", "hold", "resume", "resume", "reduce", "discontinue"]
STEP = st.one_of(
    st.tuples(st.just("dose"), st.integers(0, 3)),
    st.tuples(st.just("ae"), st.integers(0, 4), st.sampled_from(TERMS), st.integers(1, 4)),
    st.tuples(st.just("grade"), st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.just("action"), st.integers(0, 3), st.sampled_from(ACTIONS)),
    st.tuples(st.just("skin"), st.integers(0, 4), st.sampled_from([0, 5, 20, 40])),
    st.tuples(st.just("review"), st.integers(0, 30)),
    st.tuples(st.just("candidate"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("close"), st.integers(0, 40), st.sampled_from(["no_dlt", "not_evaluable"])),
)


def apply_step(patient: Patient, step: tuple[Any, ...], today: dt.date) -> None:
    """One command on the patient; refusals are part of the story."""
    kind, *args = step
    open_aes = [a for a in patient.adverse_events.values() if a.is_open]
    if kind == "dose":
        patient.administer_dose(today, INVESTIGATOR, today=TODAY)
    elif kind == "ae":
        term = CATALOGUE.lookup(args[1])
        vision = {"eye": "left", "bcva": "20/50"} if args[1] == "Blurred vision" else {}
        patient.record_adverse_event(
            uuid4(),
            term,
            None if vision else args[2],
            today,
            INVESTIGATOR,
            protocol=PROTOCOL,
            attribution="possible",
            today=TODAY,
            **vision,  # type: ignore[arg-type]
        )
    elif kind == "grade" and open_aes:
        ae = open_aes[args[0] % len(open_aes)]
        vision = {"bcva": "20/25"} if ae.term == "Blurred vision" else {}
        patient.change_ae_grade(
            ae.id,
            args[1],
            today,
            INVESTIGATOR,
            protocol=PROTOCOL,
            term=CATALOGUE.lookup(ae.term),
            reason="visit",
            today=TODAY,
            **vision,  # type: ignore[arg-type]
        )
    elif kind == "action":
        action = args[1]
        if action == "hold":
            patient.hold_dose(today, INVESTIGATOR, reason="investigator", today=TODAY)
        elif action == "reduce":
            patient.reduce_dose(
                today, INVESTIGATOR, protocol=PROTOCOL, reason="investigator", today=TODAY
            )
        elif action == "resume":
            patient.resume_dose(
                today, INVESTIGATOR, protocol=PROTOCOL, reason="investigator", today=TODAY
            )
        else:
            patient.discontinue(
                today, INVESTIGATOR, protocol=PROTOCOL, reason="investigator", today=TODAY
            )
    elif kind == "skin":
        patient.record_skin_assessment(
            today,
            INVESTIGATOR,
            location="face" if args[1] else "",
            bsa_percent=args[1],
            symptoms="mild",
            new_ae_id=uuid4(),
            protocol=PROTOCOL,
            term=CATALOGUE.lookup("Rash acneiform"),
            today=TODAY,
        )
    elif kind == "review":
        patient.review_hold(today, PROTOCOL, actor=INVESTIGATOR)
    elif kind == "candidate" and patient.dlt_candidates:
        ae_id = list(patient.dlt_candidates)[args[0] % len(patient.dlt_candidates)]
        if args[1]:
            patient.confirm_dlt_candidate(ae_id, SRC)
        else:
            patient.reject_dlt_candidate(ae_id, "not a DLT", SRC)
    elif kind == "close":
        patient.close_dlt_window(
            args[1],
            today,
            INVESTIGATOR,
            min_dose_fraction=0.75,
            today=TODAY,
            schedule=SCHEDULE,
        )


@settings(max_examples=60, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=40))
@example(
    [
        ("ae", 1, "Diarrhea", 3),
        ("candidate", 0, False),
        ("ae", 1, "Neutrophil count decreased", 4),
        ("candidate", 0, True),
    ]
)
@example(
    [
        ("ae", 1, "CPK increased", 3),
        ("action", 0, "hold"),
        ("grade", 0, 1),
        ("action", 0, "resume"),
        ("dose", 1),
        ("skin", 2, 20),
        ("skin", 3, 0),
        ("ae", 1, "Fatigue", 3),
        ("action", 0, "hold"),
        ("review", 0),
    ]
)
@example(
    [
        ("ae", 1, "Blurred vision", 1),
        ("action", 0, "hold"),
        ("grade", 0, 1),
        ("action", 0, "resume"),
    ]
)
def test_patient_stories_come_back_from_a_stored_snapshot(
    mapper: Mapper[UUID], steps: list[tuple[Any, ...]]
) -> None:
    patient = new_patient()
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/25", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(DAY0, "none", INVESTIGATOR, today=TODAY)
    assert_same(through_store(patient, mapper), patient)
    patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    today = DAY0
    for step in steps:
        today += dt.timedelta(days=step[1] if step[0] in ("dose", "ae", "skin") else 1)
        with contextlib.suppress(CommandRefused, InvalidInput):
            apply_step(patient, step, today)
        rebuilt = through_store(patient, mapper)
        assert patient_summary(rebuilt) == patient_summary(patient)
        assert_same(rebuilt, patient)
    # A rebuilt patient takes (or refuses) the next command as the original does.
    refusals = []
    for aggregate in (patient, rebuilt):
        try:
            aggregate.administer_dose(today + dt.timedelta(days=1), INVESTIGATOR, today=TODAY)
            refusals.append(None)
        except CommandRefused as exc:
            refusals.append(exc.rule)
    assert refusals[0] == refusals[1]
    assert patient_summary(rebuilt) == patient_summary(patient)
