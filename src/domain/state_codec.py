"""A codec between aggregate state and JSON-friendly data, for snapshots.

The library's JSON transcoder stores JSON objects (string keys only), lists, strings, numbers,
booleans and null, plus the leaf types it has transcodings for (UUID, Decimal, datetime, and
the clinical dates registered by the application). Aggregate state holds more than that: dicts
keyed by UUID, tuples, sets, mutable dataclasses and frozen pydantic value objects. This codec
turns such state into data the transcoder stores as it is, and back into equal state:

- leaves (None, bool, int, float, str, UUID, Decimal, date, datetime) are left as they are;
- lists stay lists, and dicts with string keys stay dicts (their values encoded);
- everything else becomes a tagged object ``{"__kind__": KIND, ...}``:
  ``dict`` (key/value pairs, for non-string keys or keys that would be mistaken for a tag),
  ``tuple``, ``set``, ``frozenset`` (``items``), ``dataclass`` (registered ``name`` and
  ``fields``) and ``model`` (registered ``name`` and ``model_dump(mode="json")`` ``data``).

Dataclasses and models are stored under names registered explicitly (never import paths), so
moving or renaming a class does not break stored snapshots. Types are matched exactly: a
subclass of a leaf or container (an enum, a defaultdict) would not come back as itself, so it
is refused when encoding rather than altered silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

KIND = "__kind__"
LEAF_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, UUID, Decimal, dt.date, dt.datetime}
)
# The library's transcoder reads any two-key object with these keys as a transcoded value.
_TRANSCODED_KEYS = frozenset({"_type_", "_data_"})


class StateCodecError(TypeError):
    """State holds a value the codec cannot encode exactly, or data it cannot decode."""


class StateCodec:
    """Encodes state as JSON-friendly data and decodes it back; see the module docstring."""

    def __init__(self, leaf_types: frozenset[type[Any]] = LEAF_TYPES) -> None:
        self._leaf_types = leaf_types
        self._dataclasses: dict[str, type[Any]] = {}
        self._dataclass_names: dict[type[Any], str] = {}
        self._models: dict[str, type[BaseModel]] = {}
        self._model_names: dict[type[BaseModel], str] = {}

    # ----------------------------------------------------------------- registration

    def register_dataclass(self, name: str, cls: type[Any]) -> None:
        """Store instances of a dataclass under a stable name."""
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise StateCodecError(f"{cls!r} is not a dataclass")
        self._check_new(name, cls)
        self._dataclasses[name] = cls
        self._dataclass_names[cls] = name

    def register_model(self, name: str, cls: type[BaseModel]) -> None:
        """Store instances of a pydantic model under a stable name (as its JSON-mode dump)."""
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            raise StateCodecError(f"{cls!r} is not a pydantic model")
        self._check_new(name, cls)
        self._models[name] = cls
        self._model_names[cls] = name

    def _check_new(self, name: str, cls: type[Any]) -> None:
        if not name or name in self._dataclasses or name in self._models:
            raise StateCodecError(f"state codec name '{name}' is empty or already registered")
        if cls in self._dataclass_names or cls in self._model_names:
            raise StateCodecError(f"{cls.__qualname__} is already registered")

    # ----------------------------------------------------------------- encoding

    def encode(self, value: Any) -> Any:
        """JSON-friendly data for a value (leaves are kept for the transcoder)."""
        kind = type(value)
        if kind in self._leaf_types:
            return value
        if kind is list:
            return [self.encode(item) for item in value]
        if kind is dict:
            return self._encode_dict(value)
        if kind is tuple:
            return {KIND: "tuple", "items": [self.encode(item) for item in value]}
        if kind is set or kind is frozenset:
            return {KIND: kind.__name__, "items": [self.encode(item) for item in value]}
        name = self._dataclass_names.get(kind)
        if name is not None:
            values = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return {KIND: "dataclass", "name": name, "fields": self._encode_dict(values)}
        name = self._model_names.get(kind)
        if name is not None:
            return {KIND: "model", "name": name, "data": value.model_dump(mode="json")}
        raise StateCodecError(
            f"cannot encode a {kind.__module__}.{kind.__qualname__} in aggregate state; "
            "register it with the state codec (dataclasses and pydantic models) or store "
            "a supported type"
        )

    def _encode_dict(self, value: dict[Any, Any]) -> Any:
        plain = all(type(key) is str for key in value) and not (
            KIND in value or value.keys() == _TRANSCODED_KEYS
        )
        if plain:
            return {key: self.encode(item) for key, item in value.items()}
        return {
            KIND: "dict",
            "items": [[self.encode(key), self.encode(item)] for key, item in value.items()],
        }

    # ----------------------------------------------------------------- decoding

    def decode(self, data: Any) -> Any:
        """The value that ``encode`` turned into ``data``."""
        kind = type(data)
        if kind is list:
            return [self.decode(item) for item in data]
        if kind is not dict:
            return data
        if KIND not in data:
            return {key: self.decode(item) for key, item in data.items()}
        tag = data[KIND]
        try:
            if tag == "dict":
                return {self.decode(key): self.decode(item) for key, item in data["items"]}
            if tag == "tuple":
                return tuple(self.decode(item) for item in data["items"])
            if tag == "set":
                return {self.decode(item) for item in data["items"]}
            if tag == "frozenset":
                return frozenset(self.decode(item) for item in data["items"])
            if tag == "dataclass":
                return self._decode_dataclass(data["name"], self.decode(data["fields"]))
            if tag == "model":
                return self._models[data["name"]].model_validate(data["data"])
        except KeyError as exc:
            raise StateCodecError(f"cannot decode {tag} state: unknown or missing {exc}") from exc
        raise StateCodecError(f"cannot decode state tagged '{tag}'")

    def _decode_dataclass(self, name: str, values: dict[str, Any]) -> Any:
        cls = self._dataclasses[name]
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise StateCodecError(
                f"stored {name} has fields {sorted(unknown)} that {cls.__qualname__} lacks"
            )
        # The constructor fills fields added (with defaults) since the snapshot was taken.
        try:
            instance = cls(**{k: v for k, v in values.items() if known[k].init})
        except TypeError as exc:
            raise StateCodecError(f"cannot rebuild stored {name}: {exc}") from exc
        for key, item in values.items():
            if not known[key].init:
                object.__setattr__(instance, key, item)
        return instance
