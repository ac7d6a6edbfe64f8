"""The read models' decoding (orjson, then the transcodings) gives what the library's gives."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, TranscodingNotRegisteredError

from adapters.demo import record_demo_trial
from adapters.services import DoseLedger
from projections.decoding import FastJSONTranscoder, fast_mapper


@pytest.fixture(scope="module")
def ledger() -> Iterator[DoseLedger]:
    app = DoseLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        record_demo_trial(app)
        yield app
    finally:
        app.close()


def typed(value: Any) -> Any:
    """The value with every type spelled out (1 == 1.0 == True, but not as decoded values)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value), value)


def test_every_stored_event_decodes_to_the_same_event(ledger: DoseLedger) -> None:
    fast = fast_mapper(ledger.mapper)
    assert isinstance(fast.transcoder, FastJSONTranscoder)
    notifications = ledger.recorder.select_notifications(0, 10_000, inclusive_of_start=False)
    assert len(notifications) > 100
    for n in notifications:
        expected, got = ledger.mapper.to_domain_event(n), fast.to_domain_event(n)
        assert type(got) is type(expected)
        assert typed(vars(got)) == typed(vars(expected))


def transcoders() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    library = DoseLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper.transcoder
    assert type(library) is JSONTranscoder
    return library, FastJSONTranscoder(library)


@pytest.mark.parametrize(
    "value",
    [
        {"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2), "n": 1},
        {"nested": {"id": uuid4(), "ids": [uuid4(), {"d": Decimal("1.10")}]}, "id": uuid4()},
        {"top": uuid4(), "deeper": [dt.date(2026, 3, 4)]},
        {"lookalike": {"_type_": "uuid_hex"}, "three": {"_type_": 1, "_data_": 2, "x": 3}},
        {"text": '"_type_": not a key', "n": 1.5, "t": True, "none": None},
        {"escaped": "line\u0001break", "id": uuid4()},
        {"big": 2**70, "id": uuid4(), "negative": -(2**63)},
        {"floats": [0.1, 1e-7, 3.2, -0.0, 1.7976931348623157e308, 5e-324, 200.0], "i": 2**63 - 1},
        [uuid4(), {"a": dt.date(2026, 1, 1)}],
        "plain",
    ],
)
def test_payloads_decode_as_the_library_decodes_them(value: Any) -> None:
    library, fast = transcoders()
    data = library.encode(value)
    assert typed(fast.decode(data)) == typed(library.decode(data))


def test_text_orjson_refuses_goes_to_the_library() -> None:
    library, fast = transcoders()
    for data in (b'{"x": NaN, "y": 1}', b'{"k": "\\u005ftype_"}', json.dumps({"a": 1}).encode()):
        assert typed(fast.decode(data)) == typed(library.decode(data))
    unknown = b'{"x": {"_type_": "mystery", "_data_": 1}}'
    for transcoder in (library, fast):
        with pytest.raises(TranscodingNotRegisteredError):
            transcoder.decode(unknown)
    with pytest.raises(ValueError):
        fast.decode(b"{not json")


def test_another_transcoder_is_kept() -> None:
    class Custom(JSONTranscoder):
        pass

    mapper: Mapper[UUID] = Mapper(transcoder=Custom())
    assert fast_mapper(mapper) is mapper
