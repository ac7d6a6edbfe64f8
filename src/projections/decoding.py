"""Decoding stored events for the read models: the application's mapper, with a faster parse.

The follower decodes every stored event it reads (a rebuild: every event, in each of its
processes). The library's ``JSONTranscoder`` parses with the stdlib decoder and a Python
``object_hook`` called on every JSON object, to turn transcoded values (``{"_type_": name,
"_data_": data}``) back into UUIDs, datetimes, dates... ``FastJSONTranscoder`` returns the same
values: orjson parses in C, then the same registered transcodings convert the transcoded values.
Where the text holds no more ``"_type_"`` keys than the top-level values that are transcoded
(the usual event: its timestamp, a clinical date, an id), only those are converted; otherwise a
walk applies the hook's rule to every object, innermost first, as the stdlib decoder does.
Text that orjson refuses (NaN, lone surrogates, invalid UTF-8), or reads otherwise (an integer
beyond 64 bits becomes a float there: text with a run of 19 digits), goes to the library's
decoder, which decodes or raises as it always did.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper

_TYPE = b'"_type_"'
# A key spelled with escapes ("\u005ftype_") is not counted: text with escapes is walked.
_ESCAPE = b"\\u"
# 19 digits or more: maybe an integer beyond 64 bits (rare: a UUID's hex seldom has such a run).
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


class FastJSONTranscoder(JSONTranscoder):
    """The transcoder's decoding (same transcodings, same values), parsed by orjson."""

    def __init__(self, source: JSONTranscoder) -> None:
        super().__init__()
        # The source's registrations themselves: a transcoding registered later is seen too.
        self.types = source.types
        self.names = source.names

    def decode(self, data: bytes) -> Any:
        """The value the library's decoder returns for ``data``."""
        if _LONG_NUMBER.search(data) is not None:
            return super().decode(data)
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        if _ESCAPE in data:
            return self._walk(value)
        marks = data.count(_TYPE)
        if marks == 0:
            return value
        if type(value) is dict:
            found = [k for k, item in value.items() if type(item) is dict and "_type_" in item]
            if len(found) == marks:  # no "_type_" key deeper down: the top level is all
                names = self.names
                for key in found:
                    item = value[key]
                    transcoding = names.get(item["_type_"]) if len(item) == 2 else None
                    if transcoding is not None and "_data_" in item:
                        value[key] = transcoding.decode(item["_data_"])
                    else:
                        value[key] = self._decode_obj(item)  # as the hook: kept, or refused
                return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        """The ``object_hook`` rule on every object, innermost first."""
        if type(value) is list:
            return [self._walk(item) if type(item) in (dict, list) else item for item in value]
        if type(value) is dict:
            for key, item in value.items():
                if type(item) in (dict, list):
                    value[key] = self._walk(item)
            return self._decode_obj(value)
        return value


def fast_mapper(mapper: Mapper[Any]) -> Mapper[Any]:
    """The mapper with ``FastJSONTranscoder`` where it uses the library's JSON transcoder.

    Any other transcoder (a subclass may decode differently) is kept: the mapper is returned
    as it is. Cipher, compressor and upcasting stay the mapper's own.
    """
    if type(mapper.transcoder) is not JSONTranscoder:
        return mapper
    fast = copy.copy(mapper)
    fast.transcoder = FastJSONTranscoder(mapper.transcoder)
    return fast
