"""Events as their stored JSON, for read models that take a few fields of very many events.

The audit trail writes a row for every event, and the timeline's dose rows are three events in
five. Decoding a domain event (the mapper: the JSON parsed with the transcoder's object hook,
then an event object) costs several times what these rows need. A model that declares
``stored_handlers`` (or ``takes_all_stored``) gets an :class:`UndecodedEvent` instead: the state
parsed by a JSON parser alone (no object hook), values the transcoder wrote as ``{"_type_": ...,
"_data_": ...}`` left as they are until a handler reads them with :meth:`UndecodedEvent.get`,
which decodes them as the transcoder's object hook would (bottom-up, with the same
transcodings), so a model words its rows exactly as from the domain event. Dates and UTC
timestamps are read as their stored ISO text (:meth:`UndecodedEvent.date_text`,
:meth:`UndecodedEvent.utc_text`) when the transcoding that wrote them is ``isoformat()``.

When some other model of the same runner decodes the event anyway, the stored models get the
event's own attributes (already decoded) instead: same rows, one decode.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import pydantic_core
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoding

UTC = dt.UTC
ID_TEXTS = 32_768  # ids whose text id_text remembers (the least recently used are dropped)
_FROM_JSON = pydantic_core.from_json
_SAMPLES: tuple[dt.date, ...] = (
    dt.date(2024, 2, 29),
    dt.datetime(2024, 2, 29, 13, 5, 7, 250, tzinfo=UTC),
    dt.datetime(2024, 2, 29, 13, 5, 7, tzinfo=UTC),
)


class StoredJsonDecoder:
    """Stored states to plain JSON data, and typed values decoded on demand."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        # Stored data that is not JSON can only be read by the mapper: data() returns None
        # and every event is then decoded into a domain event.
        self.json = isinstance(transcoder, JSONTranscoder)
        self.names: Mapping[str, Transcoding] = (
            transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        )
        # Transcodings of dates and datetimes whose text is isoformat(): that text is what
        # isoformat() of the decoded value gives back.
        self.iso_names = frozenset(
            name for name, transcoding in self.names.items() if _writes_isoformat(transcoding)
        )

    def data(self, state: bytes) -> dict[str, Any] | None:
        """The stored state as plain JSON data (None when the transcoder is not JSON)."""
        if not self.json:
            return None
        mapper = self.mapper
        if mapper.cipher is not None:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor is not None:
            state = mapper.compressor.decompress(state)
        # pydantic's parser (jiter, in Rust) is faster than the standard library's on these
        # documents (docs/benchmarks.md). Anything it refuses (a lone surrogate escape, say) or
        # that is not an object goes to json.loads, which decodes it as the transcoder's
        # decoder does, or says what is wrong.
        try:
            data = _FROM_JSON(state, cache_strings="keys")
        except ValueError:
            data = None
        if type(data) is not dict:
            data = json.loads(state)
        return data  # type: ignore[no-any-return]

    def value(self, value: Any) -> Any:
        """A value as the transcoder's object hook would have decoded it."""
        kind = type(value)
        if kind is dict:
            if "_type_" not in value:
                for item in value.values():
                    if type(item) is dict or type(item) is list:
                        break
                else:
                    return value  # plain values only (an actor, say): nothing to decode
            items = {k: self.value(v) for k, v in value.items()}
            if len(items) == 2 and "_type_" in items and "_data_" in items:
                return self.names[items["_type_"]].decode(items["_data_"])
            return items
        if kind is list:
            for item in value:
                if type(item) is dict or type(item) is list:
                    return [self.value(v) for v in value]
            return value
        return value


def _writes_isoformat(transcoding: Transcoding) -> bool:
    kind = getattr(transcoding, "type", None)
    if kind not in (dt.date, dt.datetime):
        return False
    try:
        samples = [s for s in _SAMPLES if type(s) is kind]
        return all(
            transcoding.encode(s) == s.isoformat() and transcoding.decode(s.isoformat()) == s
            for s in samples
        )
    except Exception:
        return False


class UndecodedEvent:
    """One stored event, for a model's stored handler."""

    __slots__ = ("_decoded", "cls", "data", "decoder", "originator_id", "version")

    def __init__(
        self,
        cls: type,
        originator_id: str,
        version: int,
        data: dict[str, Any],
        decoder: StoredJsonDecoder | None,
    ) -> None:
        self.cls = cls
        self.originator_id = originator_id  # str(UUID)
        self.version = version
        self.data = data  # stored JSON data, or the decoded event's attributes
        self.decoder = decoder  # None: data is already decoded
        self._decoded: dict[str, Any] | None = None  # containers get() has decoded

    @classmethod
    def of_event(cls, event: Any) -> UndecodedEvent:
        """A decoded domain event, as a stored handler takes it."""
        return cls(type(event), id_text(event.originator_id), event.originator_version,
                   event.__dict__, None)  # fmt: skip

    def get(self, key: str, default: Any = None) -> Any:
        """A field, decoded as the domain event has it."""
        value = self.data.get(key, default)
        kind = type(value)
        if (kind is not dict and kind is not list) or self.decoder is None:
            return value
        # A dict or list is decoded once per event, however many handlers read it.
        decoded = self._decoded
        if decoded is None:
            decoded = self._decoded = {}
        elif key in decoded:
            return decoded[key]
        value = decoded[key] = self.decoder.value(value)
        return value

    def date_text(self, key: str) -> str | None:
        """``isoformat()`` of a date (or datetime) field, or None."""
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is dict and self.decoder is not None:
            text = _iso_text(value, self.decoder)
            if text is not None:
                return text
        return str(self.get(key).isoformat())

    def utc_text(self, key: str) -> str:
        """``isoformat()`` of a datetime field in UTC."""
        value = self.data[key]
        if type(value) is dict and self.decoder is not None:
            text = _iso_text(value, self.decoder)
            if text is not None and text.endswith("+00:00"):
                return text
        stamp: dt.datetime = self.get(key)
        return (stamp if stamp.tzinfo is UTC else stamp.astimezone(UTC)).isoformat()


def _iso_text(value: dict[str, Any], decoder: StoredJsonDecoder) -> str | None:
    """The text of a value an isoformat() transcoding wrote (as the object hook takes it)."""
    if value.get("_type_") in decoder.iso_names and len(value) == 2:
        text = value.get("_data_")
        if type(text) is str:
            return text
    return None


@functools.lru_cache(maxsize=ID_TEXTS)
def id_text(originator_id: Any) -> str:
    """``str(UUID)`` of an id: a UUID, or 32 hex digits as a notification may hold it.

    Remembered: a log holds many events per aggregate and the read models write the same ids
    again and again, so each id's text is made once (the figures: docs/benchmarks.md)."""
    if type(originator_id) is str and len(originator_id) == 32:
        h = originator_id.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))
