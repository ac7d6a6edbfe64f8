"""Snapshots: the state codec, and Trial/Patient state through the app's mapper and back."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, ProgrammingError, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.services import DoseLedger
from domain.adverse_event import AdverseEvent, Hold
from domain.cohort import Cohort
from domain.ctcae import CtcaeCatalogue
from domain.errors import CommandRefused, InvalidInput
from domain.patient import Patient
from domain.protocol import AgentDose, template
from domain.snapshots import STATE_CODEC, AggregateSnapshot
from domain.state_codec import KIND, StateCodec, StateCodecError
from domain.trial import Trial
from projections.patient_state import patient_summary
from projections.trial_state import trial_summary
from support import (
    DAY0,
    INVESTIGATOR,
    SCHEDULE,
    SRC,
    TODAY,
    follow_recommendation,
    new_trial,
    run_cohort,
)

CATALOGUE = CtcaeCatalogue.load()
PROTOCOL = template("defactinib-avutometinib")


@pytest.fixture(scope="module")
def mapper() -> Iterator[Mapper[UUID]]:
    """The application's mapper (its transcoder has the clinical-date transcoding)."""
    app = DoseLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        yield app.mapper
    finally:
        app.close()


def through_store(aggregate: Aggregate, mapper: Mapper[UUID]) -> Any:
    """Snapshot the aggregate, transcode it to bytes and back, and rebuild the aggregate."""
    snapshot = type(aggregate).Snapshot.take(aggregate)  # type: ignore[attr-defined]
    stored = mapper.to_stored_event(snapshot)
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


# ----------------------------------------------------------------- the codec


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Box:
    items: list[Any]
    label: str = ""
    tally: int = dataclasses.field(default=0, init=False)


def box_codec() -> StateCodec:
    codec = StateCodec()
    codec.register_dataclass("box", Box)
    codec.register_model("agent_dose", AgentDose)
    return codec


def state_json_cannot_carry(key: UUID) -> dict[str, Any]:
    """Values of every kind the codec carries, in both layouts, and look-alikes of its tags."""
    box = Box([(1, 2), {3}])
    box.tally = 7
    return {
        "by_uuid": {key: [key, dt.date(2026, 1, 2)]},
        "by_int": {1: "one", 2: "two"},
        "by_tuple": {(1, "a"): frozenset({"x"})},
        "tagged": {KIND: "tuple", "items": []},
        "transcoded_lookalike": {"_type_": "uuid_hex", "_data_": "not a uuid"},
        "text_lookalikes": [{"$uuid": "not a uuid"}, {"$dict": []}, {"$box": 1, "$uuid": 2}],
        "box": box,
        "dose": AgentDose(agent="defactinib", amount=200, unit="mg", frequency="BID"),
        "leaves": [None, True, 0, 1.5, "s", Decimal("1.10"), dt.datetime(2026, 1, 2, 3, 4)],
        "aware": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        "empty": [{}, (), set(), frozenset()],
    }


def test_values_json_cannot_carry_come_back_equal_and_of_the_same_type() -> None:
    codec = box_codec()
    value = state_json_cannot_carry(uuid4())
    encoded = codec.encode(value)
    decoded = codec.decode(encoded)
    assert decoded == value
    assert type(decoded["by_tuple"][(1, "a")]) is frozenset
    assert type(decoded["box"].items[0]) is tuple
    assert decoded["box"].tally == 7
    assert type(decoded["empty"][1]) is tuple and type(decoded["empty"][2]) is set
    assert encoded["by_int"][KIND] == "dict"
    assert encoded["box"] == {
        KIND: "dataclass",
        "name": "box",
        "fields": {
            "items": [{KIND: "tuple", "items": [1, 2]}, {KIND: "set", "items": [3]}],
            "label": "",
            "tally": 7,
        },
    }


@pytest.mark.parametrize(
    "value",
    [Colour.RED, dt.timedelta(days=1), defaultdict(list), Cohort(1, 1, 3, "start"), object()],
    ids=["enum", "timedelta", "defaultdict", "unregistered dataclass", "object"],
)
def test_values_that_would_not_come_back_exactly_are_refused(value: Any) -> None:
    with pytest.raises(StateCodecError, match="cannot encode"):
        box_codec().encode({"state": [value]})


def test_names_and_classes_are_registered_once() -> None:
    codec = box_codec()
    with pytest.raises(StateCodecError, match="already registered"):
        codec.register_dataclass("box", Cohort)
    with pytest.raises(StateCodecError, match="already registered"):
        codec.register_dataclass("crate", Box)
    with pytest.raises(StateCodecError, match="not a dataclass"):
        codec.register_dataclass("dose", AgentDose)
    with pytest.raises(StateCodecError, match="not a pydantic model"):
        codec.register_model("crate", Box)  # type: ignore[arg-type]


def test_stored_dataclasses_are_found_by_name_and_tolerate_added_defaults() -> None:
    codec = box_codec()
    assert codec.decode({KIND: "dataclass", "name": "box", "fields": {"items": []}}) == Box([])
    with pytest.raises(StateCodecError, match="lacks"):
        codec.decode({KIND: "dataclass", "name": "box", "fields": {"items": [], "gone": 1}})
    with pytest.raises(StateCodecError, match="cannot rebuild"):
        codec.decode({KIND: "dataclass", "name": "box", "fields": {}})
    with pytest.raises(StateCodecError, match="crate"):
        codec.decode({KIND: "dataclass", "name": "crate", "fields": {}})
    with pytest.raises(StateCodecError, match="tagged 'mystery'"):
        codec.decode({KIND: "mystery"})


def test_domain_classes_have_stable_names() -> None:
    hold = Hold(DAY0, None, None, None, False, None, None)
    ae = AdverseEvent(uuid4(), "Fatigue", 2, 3, "5.0", DAY0, "possible", False, 1)
    names = {
        STATE_CODEC.encode(value)["name"]
        for value in (
            Cohort(1, 1, 3, "start"),
            ae,
            hold,
            PROTOCOL,
            PROTOCOL.dose_levels[0].doses[0],
        )
    }
    assert names == {"cohort", "adverse_event", "hold", "protocol", "agent_dose"}


# ----------------------------------------------------------------- snapshot classes


def test_snapshot_classes_have_explicit_registered_topics() -> None:
    for aggregate, topic in ((Trial, "doseledger:trial"), (Patient, "doseledger:patient")):
        snapshot_class = aggregate.Snapshot  # type: ignore[attr-defined]
        assert issubclass(snapshot_class, AggregateSnapshot)
        assert (snapshot_class.TOPIC, snapshot_class.class_version) == (f"{topic}.Snapshot", 3)
        assert resolve_topic(snapshot_class.TOPIC) is snapshot_class


def test_a_snapshot_class_without_a_topic_is_refused() -> None:
    with pytest.raises(ProgrammingError, match="explicit TOPIC"):

        class Untitled(AggregateSnapshot):
            pass


def test_a_trial_snapshot_is_stored_under_its_topic_and_the_trial_topic(
    mapper: Mapper[UUID],
) -> None:
    trial = new_trial(3)
    run_cohort(trial, "NNN")
    stored = mapper.to_stored_event(Trial.Snapshot.take(trial))
    assert stored.topic == "doseledger:trial.Snapshot"
    assert (stored.originator_id, stored.originator_version) == (trial.id, trial.version)
    assert b'"topic":"doseledger:trial"' in stored.state
    assert b'"class_version":3' in stored.state
    text = json.loads(stored.state)["state"]  # version 3: the state as one compact JSON text
    assert text.startswith('[{"$fields":{"cohort":["number","level",')
    assert '"$dataclass":["cohort",[1,1,' in text and '"$model":["protocol",' in text


def stored_as_version(version: int, aggregate: Aggregate, mapper: Mapper[UUID]) -> StoredEvent:
    """The aggregate's snapshot as an earlier version stored it: 1, the codec's objects and
    no class_version; 2, one JSON text with dataclass fields by name."""
    state = {k: v for k, v in vars(aggregate).items() if k not in ("_id", "_version")}
    del state["_pending_events"]
    class_version = getattr(type(aggregate), "class_version", 1)
    if class_version > 1:  # as Snapshot.take stores it: this is the state of today's class
        state["class_version"] = class_version
    fields = {"timestamp": Snapshot.create_timestamp(), "topic": get_topic(type(aggregate))}
    if version == 1:
        fields["state"] = STATE_CODEC.encode(state)
    else:
        fields |= {"state": STATE_CODEC.dumps_v2(state), "class_version": version}
    return StoredEvent(
        originator_id=aggregate.id,
        originator_version=aggregate.version,
        topic=type(aggregate).Snapshot.TOPIC,  # type: ignore[attr-defined]
        state=mapper.transcoder.encode(fields),
    )


def test_snapshots_stored_by_versions_1_and_2_still_load(mapper: Mapper[UUID]) -> None:
    trial = new_trial(3)
    run_cohort(trial, "NNX")
    patient = new_patient()
    patient.record_baseline_eye_exam(DAY0, "20/20", "20/25", INVESTIGATOR, today=TODAY)
    patient.record_baseline_skin_exam(DAY0, "none", INVESTIGATOR, today=TODAY)
    patient.start_dosing(DAY0, INVESTIGATOR, today=TODAY)
    patient.record_adverse_event(
        uuid4(),
        CATALOGUE.lookup("Fatigue"),
        2,
        DAY0,
        INVESTIGATOR,
        protocol=PROTOCOL,
        attribution="possible",
        today=TODAY,
    )
    for aggregate in (trial, patient):
        stored = stored_as_version(1, aggregate, mapper)
        # Layout 1 had no snapshot class_version (the aggregate's own is inside the state).
        assert b'"class_version":1' not in stored.state and b'"__kind__"' in stored.state
        assert_same(mapper.to_domain_event(stored).mutate(None), aggregate)  # type: ignore[attr-defined]
        stored = stored_as_version(2, aggregate, mapper)
        assert b'"class_version":2' in stored.state and b"$fields" not in stored.state
        assert_same(mapper.to_domain_event(stored).mutate(None), aggregate)  # type: ignore[attr-defined]


def test_the_text_layout_brings_values_back_equal_and_of_the_same_type() -> None:
    codec = box_codec()
    key = uuid4()
    value = state_json_cannot_carry(key)
    decoded = codec.loads(codec.dumps(value))
    assert decoded == value
    assert type(decoded["by_tuple"][(1, "a")]) is frozenset
    assert type(decoded["box"].items[0]) is tuple and decoded["box"].tally == 7
    assert [type(v) for v in decoded["empty"]] == [dict, tuple, set, frozenset]
    assert type(decoded["leaves"][5]) is Decimal and type(decoded["by_uuid"][key][1]) is dt.date
    assert decoded["text_lookalikes"] == value["text_lookalikes"]
    # One UUID is one object in the decoded state (built once per text).
    assert decoded["by_uuid"][key][0] is next(iter(decoded["by_uuid"]))
    for refused in (Colour.RED, dt.timedelta(days=1), defaultdict(list), object()):
        with pytest.raises(StateCodecError, match="cannot encode"):
            codec.dumps({"state": [refused]})
    for bad, message in (
        ('[{"$fields":{"box":["items","gone"]}},{"$dataclass":["box",[[],1]]}]', "lacks"),
        ('[{"$fields":{"crate":[]}},{"$dataclass":["crate",[]]}]', "crate"),
        ('[{"$fields":{}},{"$dataclass":["box",[[],"",0]]}]', "no layout for box"),
        ('[{"$fields":{"box":["items"]}},{"$dataclass":["box",[[],1]]}]', "2 values for 1"),
        ('[{"$fields":{}},{"$uuid":["not text"]}]', r"\$uuid"),
        ('{"$uuid":"5f1e9c4e8d2b4c1a9e3f6a7b8c9d0e1f"}', "no field layouts"),
        ("[{", "cannot decode state text"),
    ):
        with pytest.raises(StateCodecError, match=message):
            codec.loads(bad)


def test_the_earlier_text_layout_still_decodes_equal() -> None:
    codec = box_codec()
    value = state_json_cannot_carry(uuid4())
    text = codec.dumps_v2(value)
    assert "$fields" not in text and '"$dataclass":["box",{"items"' in text
    assert codec.loads_v2(text) == value
    with pytest.raises(StateCodecError, match="lacks"):
        codec.loads_v2('{"$dataclass":["box",{"items":[],"gone":1}]}')


def test_dataclasses_stored_with_other_fields_decode_by_name() -> None:
    codec = box_codec()
    reordered = '[{"$fields":{"box":["tally","items"]}},{"$dataclass":["box",[7,[]]]}]'
    expected = Box([])
    expected.tally = 7  # not set by the constructor: set after it
    assert codec.loads(reordered) == expected
    older = '[{"$fields":{"box":["items"]}},{"$dataclass":["box",[[1]]]}]'  # fields added since
    assert codec.loads(older) == Box([1])


def test_model_data_and_user_dicts_that_look_like_tags_come_back_as_they_were() -> None:
    codec = box_codec()
    value = {
        "$fields": {"box": ["x"]},
        "nested": [{"$fields": 1}, {"$dataclass": ["box", [1]]}, {"$model": 2}],
        "dose": AgentDose(agent="defactinib", amount=200, unit="mg", frequency="BID"),
    }
    text = codec.dumps(value)
    assert codec.loads(text) == value
    assert text.startswith('[{"$fields":{}},')  # no dataclass in this value


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


def new_patient() -> Patient:
    return Patient(
        id=uuid4(),
        trial_id=uuid4(),
        subject_id="S01-001",
        site_id="S01",
        cohort=1,
        level=1,
        doses=[d.model_dump(mode="json") for d in PROTOCOL.dose_level(1).doses],
        dlt_window_days=28,
        enrolment_date=DAY0 - dt.timedelta(days=7),
        actor=INVESTIGATOR.as_record(),
        site_time_zone="UTC",
    )


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
