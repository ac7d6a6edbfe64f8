"""The state codec: aggregate state to one JSON text and back, equal and of the same types, in
one layout (text written for other classes or fields is stale, never upcast)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import defaultdict
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.persistence.snapshots import STATE_CODEC
from adapters.persistence.state_codec import StaleState, StateCodec, StateCodecError
from domain.adverse_event import AdverseEvent
from domain.cohort import Cohort
from domain.patient.dosing_record import DayRuns
from domain.patient.requirements import HoldPeriod, Requirement
from domain.protocol import AgentDose, template
from support import DAY0

PROTOCOL = template("defactinib-avutometinib")


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
    """Values of every kind the codec carries, and look-alikes of its tags."""
    box = Box([(1, 2), {3}])
    box.tally = 7
    return {
        "by_uuid": {key: [key, dt.date(2026, 1, 2)]},
        "by_int": {1: "one", 2: "two"},
        "by_tuple": {(1, "a"): frozenset({"x"})},
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


@pytest.mark.parametrize(
    "value",
    [Colour.RED, dt.timedelta(days=1), defaultdict(list), Cohort(1, 1, 3, "start"), object()],
    ids=["enum", "timedelta", "defaultdict", "unregistered dataclass", "object"],
)
def test_values_that_would_not_come_back_exactly_are_refused(value: Any) -> None:
    with pytest.raises(StateCodecError, match="cannot encode"):
        box_codec().dumps({"state": [value]})


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


def test_domain_classes_have_stable_names() -> None:
    classes = (Cohort, AdverseEvent, Requirement, HoldPeriod, DayRuns, type(PROTOCOL), AgentDose)
    assert [STATE_CODEC.name_of(cls) for cls in classes] == [
        "cohort",
        "adverse_event",
        "requirement",
        "hold_period",
        "day_runs",
        "protocol",
        "agent_dose",
    ]
    ae = AdverseEvent(uuid4(), "Fatigue", 2, 3, "5.0", DAY0, "possible", False, 1)
    text = STATE_CODEC.dumps([Cohort(1, 1, 3, "start"), ae, PROTOCOL, HoldPeriod(DAY0)])
    assert text.startswith('[{"$fields":{') and '"cohort":["number","level",' in text
    assert '"$dataclass":["adverse_event",[' in text and '"$model":["protocol",' in text


def test_text_that_is_not_of_the_layout_is_refused() -> None:
    codec = box_codec()
    for bad, message in (
        ('[{"$fields":{"box":["items","label","tally"]}},{"$dataclass":["box",[[]]]}]', "1 val"),
        ('[{"$fields":{}},{"$dataclass":["box",[[],"",0]]}]', "no layout for box"),
        ('[{"$fields":{}},{"$uuid":["not text"]}]', r"\$uuid"),
        ('{"$uuid":"5f1e9c4e8d2b4c1a9e3f6a7b8c9d0e1f"}', "no field layouts"),
        ("[{", "cannot decode state text"),
    ):
        with pytest.raises(StateCodecError, match=message) as refused:
            codec.loads(bad)
        assert not isinstance(refused.value, StaleState)


def test_text_written_for_other_classes_or_fields_is_stale_never_upcast() -> None:
    codec = box_codec()
    for stale, message in (
        # Written before a field was added, before fields were reordered, or after a class
        # or a model was dropped from the codec.
        ('[{"$fields":{"box":["items","label"]}},{"$dataclass":["box",[[],""]]}]', "fields"),
        ('[{"$fields":{"box":["tally","items","label"]}},{"$dataclass":["box",[7,[],""]]}]', "not"),
        ('[{"$fields":{"crate":[]}},{"$dataclass":["crate",[]]}]', "crate, not registered"),
        ('[{"$fields":{}},{"$model":["gone",{}]}]', "model gone, not registered"),
    ):
        with pytest.raises(StaleState, match=message):
            codec.loads(stale)


def test_a_field_the_constructor_does_not_set_comes_back() -> None:
    codec = box_codec()
    box = Box([1], "x")
    box.tally = 7  # init=False: set after the constructor
    text = codec.dumps(box)
    assert codec.loads(text) == box and codec.loads(text).tally == 7


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
