"""Events as stored: values read from the plain JSON equal those of the mapper's decode."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder
from hypothesis import given
from hypothesis import strategies as st

from adapters.application import DoseLedger
from projections.undecoded import StoredJsonDecoder, UndecodedEvent, id_text


def transcoder() -> JSONTranscoder:
    """The application's transcoder (the library's transcodings and ours)."""
    found = JSONTranscoder()
    object.__new__(DoseLedger).register_transcodings(found)
    return found


TRANSCODER = transcoder()
DECODER = StoredJsonDecoder(Mapper(transcoder=TRANSCODER))

offsets = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(-dt.timedelta(hours=5, minutes=30))]
)
datetimes = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    offsets,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.floats(allow_nan=False),
    st.uuids(),
    st.dates(),
    datetimes,
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text("abxyz_", max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


def stored_of(state: dict[str, Any]) -> tuple[UndecodedEvent, dict[str, Any]]:
    """The same state read as stored, and as the mapper decodes it."""
    encoded = TRANSCODER.encode(state)
    data = DECODER.data(encoded)
    assert data is not None
    return UndecodedEvent(object, id_text("0" * 32), 1, data, DECODER), TRANSCODER.decode(encoded)


# (Data holding a dict of exactly "_type_" and "_data_" cannot be stored by the library at all.)
@given(st.dictionaries(st.sampled_from(["a", "b", "_type_"]), values, max_size=3))
def test_every_value_read_as_stored_equals_the_decoded_one(state: dict[str, Any]) -> None:
    stored, decoded = stored_of(state)
    for key in ("a", "b", "_type_", "missing"):
        assert stored.get(key) == decoded.get(key)
        assert type(stored.get(key)) is type(decoded.get(key))


@given(st.one_of(st.dates(), datetimes), datetimes)
def test_dates_and_utc_times_read_as_their_stored_text_equal_isoformat(
    day: dt.date, stamp: dt.datetime
) -> None:
    stored, decoded = stored_of({"clinical_date": day, "timestamp": stamp})
    assert stored.date_text("clinical_date") == decoded["clinical_date"].isoformat()
    assert stored.date_text("missing") is None
    assert stored.utc_text("timestamp") == decoded["timestamp"].astimezone(dt.UTC).isoformat()


def test_a_decoded_event_reads_the_same_as_its_stored_state() -> None:
    state = {
        "timestamp": dt.datetime(2026, 3, 1, 9, 30, 0, 123, tzinfo=dt.UTC),
        "clinical_date": dt.date(2026, 2, 28),
        "actor": {"user_id": "inv-1", "role": "investigator"},
        "ae_id": UUID("2e65f1db-35f0-4ef7-8a3f-f8ccc10454ed"),
        "doses": [{"agent": "defactinib", "amount": Decimal("200.5")}],
    }
    stored, decoded = stored_of(state)
    event = UndecodedEvent(object, "x", 1, decoded, None)  # what UndecodedEvent.of_event builds
    for key in state:
        assert stored.get(key) == event.get(key) == state[key]
    assert (
        stored.utc_text("timestamp")
        == event.utc_text("timestamp")
        == ("2026-03-01T09:30:00.000123+00:00")
    )
    assert stored.date_text("clinical_date") == event.date_text("clinical_date") == "2026-02-28"


@given(st.uuids())
def test_ids_read_as_stored_are_their_str(ident: UUID) -> None:
    assert id_text(ident.hex) == id_text(ident) == id_text(ident.hex.upper()) == str(ident)
    assert id_text(str(ident)) == str(ident)


class PickleTranscoder(Transcoder):
    """A transcoder whose stored state is not JSON."""

    def register(self, transcoding: Any) -> None:
        raise NotImplementedError

    def encode(self, obj: Any) -> bytes:
        return pickle.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)


def test_a_state_that_is_not_json_is_left_to_the_mapper() -> None:
    decoder = StoredJsonDecoder(Mapper(transcoder=PickleTranscoder()))
    assert decoder.data(pickle.dumps({"a": 1})) is None
    assert DECODER.data(TRANSCODER.encode({"a": 1})) == {"a": 1}


def test_stored_text_with_whitespace_or_trailing_data_is_read_as_json_reads_it() -> None:
    assert DECODER.data(b' {"a": [1, {"b": null}]}\n') == {"a": [1, {"b": None}]}
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        DECODER.data(b'{"a": 1} {"b": 2}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False)  # infinities included (json writes them as Infinity)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), json_values, max_size=6), st.booleans())
def test_stored_json_is_read_as_the_standard_library_reads_it(
    document: dict[str, Any], ascii_only: bool
) -> None:
    stored = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    assert DECODER.data(stored) == json.loads(stored)


@pytest.mark.parametrize(
    "stored",
    [
        b'{"a": "\\ud800"}',  # a lone surrogate escape: the fast parser refuses it
        b'{"a": 1, "a": 2}',  # a repeated key: the last one
        b'{"a": [1.5, -0.0, 1e400, 123456789012345678901234567890]}',
    ],
)
def test_json_the_fast_parser_refuses_or_reads_its_own_way_is_read_as_json_reads_it(
    stored: bytes,
) -> None:
    assert DECODER.data(stored) == json.loads(stored)
