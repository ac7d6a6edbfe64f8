"""A codec between aggregate state and one JSON text, for snapshots.

Aggregate state holds more than JSON carries: dicts keyed by UUID, tuples, sets, mutable
dataclasses and frozen pydantic value objects, and the leaves UUID, Decimal, date and datetime.
``dumps`` turns such state into one JSON text and ``loads`` turns the text back into equal
state, of the same types. The library's transcoder then stores the text as a single string: it
calls no Python hook for each object of the state and converts no leaf, and ``loads`` rebuilds
tagged objects from the C parser's object hook, without a walk over the state in Python.

The text is ``[{"$fields": {name: [field, ...]}}, data]``: a header naming each dataclass's
fields once, then the data. JSON's own values stay as they are; every other value is a one-key
object: ``{"$uuid": hex}``, ``{"$date": iso}``, ``{"$datetime": iso}``, ``{"$decimal": text}``,
``{"$tuple": [...]}``, ``{"$set": [...]}``, ``{"$frozenset": [...]}``, ``{"$dict": [[key,
value], ...]}`` (non-string keys, or a one-key dict whose key is a tag), ``{"$dataclass": [name,
[value, ...]]}`` (its fields in the header's order) and ``{"$model": [name, data]}`` (the
model's JSON-mode dump, escaped like any dict).

Dataclasses and models are stored under names registered explicitly (never import paths), and
types are matched exactly: a subclass of a leaf or container (an enum, a defaultdict) would not
come back as itself, so it is refused when encoding rather than altered silently.

One layout, and no upcasting: a text whose header names a class that is not registered, or
fields other than the class's current ones, raises ``StaleState``. Snapshots are a cache of the
events, so such a snapshot is set aside and the aggregate replayed (``snapshots``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

LEAF_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, UUID, Decimal, dt.date, dt.datetime}
)
FIELDS_TAG = "$fields"
TEXT_TAGS = frozenset(
    {"$uuid", "$date", "$datetime", "$decimal", "$tuple", "$set", "$frozenset", "$dict"}
    | {"$dataclass", "$model", FIELDS_TAG}
)
_TEXT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


class _Layouts:
    """What the hook makes of the header: the field layouts are kept by the hook itself."""


class StateCodecError(TypeError):
    """State holds a value the codec cannot encode exactly, or text it cannot decode."""


class StaleState(StateCodecError):
    """The text was written for other classes or fields than the registered ones."""


class StateCodec:
    """Encodes state as one JSON text and decodes it back; see the module docstring."""

    def __init__(self, leaf_types: frozenset[type[Any]] = LEAF_TYPES) -> None:
        self._leaf_types = leaf_types
        self._dataclasses: dict[str, type[Any]] = {}
        self._dataclass_names: dict[type[Any], str] = {}
        # Per registered dataclass: its field names, which are init fields, whether all are.
        self._field_names: dict[type[Any], tuple[str, ...]] = {}
        self._init_fields: dict[type[Any], dict[str, bool]] = {}
        self._all_init: dict[type[Any], bool] = {}
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
        fields = dataclasses.fields(cls)
        self._field_names[cls] = tuple(f.name for f in fields)
        self._init_fields[cls] = {f.name: f.init for f in fields}
        self._all_init[cls] = all(f.init for f in fields)

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

    def name_of(self, cls: type[Any]) -> str | None:
        """The name a registered dataclass or model is stored under (None: not registered)."""
        return self._dataclass_names.get(cls) or self._model_names.get(cls)

    # ----------------------------------------------------------------- encoding

    def dumps(self, value: Any) -> str:
        """One JSON text for a value (see the module docstring)."""
        used: set[type[Any]] = set()
        data = self._to_text_data(value, used)
        layouts = {self._dataclass_names[cls]: self._field_names[cls] for cls in used}
        return _TEXT_ENCODER.encode([{FIELDS_TAG: layouts}, data])

    def _to_text_data(self, value: Any, used: set[type[Any]]) -> Any:
        """Text data; ``used`` collects the dataclasses met, for the header."""
        kind = type(value)
        if value is None or kind is str or kind is int or kind is float or kind is bool:
            return value
        if kind is list:
            return [self._to_text_data(item, used) for item in value]
        if kind is dict:
            return self._dict_text_data(value, used)
        leaf = _TEXT_LEAVES.get(kind)
        if leaf is not None and kind in self._leaf_types:
            return {leaf[0]: leaf[1](value)}
        if kind is tuple or kind is set or kind is frozenset:
            return {f"${kind.__name__}": [self._to_text_data(item, used) for item in value]}
        name = self._dataclass_names.get(kind)
        if name is not None:
            used.add(kind)
            fields = self._field_names[kind]
            return {
                "$dataclass": [name, [self._to_text_data(getattr(value, f), used) for f in fields]]
            }
        name = self._model_names.get(kind)
        if name is not None:
            # The dump's objects go through the same hook when loaded, so they are escaped.
            return {"$model": [name, self._to_text_data(value.model_dump(mode="json"), used)]}
        raise StateCodecError(
            f"cannot encode a {kind.__module__}.{kind.__qualname__} in aggregate state; "
            "register it with the state codec (dataclasses and pydantic models) or store "
            "a supported type"
        )

    def _dict_text_data(self, value: dict[Any, Any], used: set[type[Any]]) -> Any:
        if all(type(key) is str for key in value) and not (
            len(value) == 1 and next(iter(value)) in TEXT_TAGS
        ):
            return {key: self._to_text_data(item, used) for key, item in value.items()}
        pairs = [
            [self._to_text_data(k, used), self._to_text_data(v, used)] for k, v in value.items()
        ]
        return {"$dict": pairs}

    # ----------------------------------------------------------------- decoding

    def loads(self, text: str | bytes) -> Any:
        """The value that ``dumps`` turned into ``text``: parsed in C, with one Python call
        per JSON object (the tagged ones are rebuilt), none per list or leaf."""
        try:
            parsed = json.loads(text, object_hook=self._text_hook())
        except StateCodecError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise StateCodecError(f"cannot decode state text: {exc}") from exc
        if type(parsed) is not list or len(parsed) != 2 or type(parsed[0]) is not _Layouts:
            raise StateCodecError("cannot decode state text: it starts with no field layouts")
        return parsed[1]

    def _text_hook(self) -> Callable[[dict[str, Any]], Any]:
        """The ``object_hook`` of one ``loads``: tagged objects to values, others kept.

        JSON objects close inner first, so a tag's contents are decoded when its hook runs;
        the header (``$fields``, first in the text) closes before any dataclass.
        """
        leaves = _text_leaves()
        builders: dict[str, Callable[[list[Any]], Any]] = {}
        models = self._models

        def hook(obj: dict[str, Any]) -> Any:
            if len(obj) != 1:
                return obj
            for tag, inner in obj.items():
                leaf = leaves.get(tag)
                if leaf is not None:
                    if type(inner) is not str:
                        raise StateCodecError(f"cannot decode {tag} state: {inner!r} is not text")
                    return leaf(inner)
                if tag == "$dataclass":
                    name, values = inner
                    build = builders.get(name)
                    if build is None:
                        raise StateCodecError(
                            f"cannot decode $dataclass state: no layout for {name}"
                        )
                    return build(values)
                if tag == "$dict":
                    return {k: v for k, v in inner}
                if tag == "$model":
                    name, data = inner
                    model = models.get(name)
                    if model is None:
                        raise StaleState(f"stored state names model {name}, not registered")
                    return model.model_validate(data)
                if tag in _COLLECTIONS:
                    return _COLLECTIONS[tag](inner)
                if tag == FIELDS_TAG:
                    for name, fields in inner.items():
                        builders[name] = self._builder(name, tuple(fields))
                    return _Layouts()
            return obj

        return hook

    def _builder(self, name: str, stored: tuple[str, ...]) -> Callable[[list[Any]], Any]:
        """How a dataclass stored with these fields is rebuilt: only its current fields are
        accepted (anything else is stale state), from its list of values at once when the
        constructor sets them all."""
        cls = self._dataclasses.get(name)
        if cls is None:
            raise StaleState(f"stored state names dataclass {name}, not registered")
        if stored != self._field_names[cls]:
            raise StaleState(
                f"stored {name} has fields {list(stored)}, "
                f"not {cls.__qualname__}'s {list(self._field_names[cls])}"
            )
        if self._all_init[cls]:
            return lambda values: cls(*values)
        init = self._init_fields[cls]

        def by_name(values: list[Any]) -> Any:
            if len(values) != len(stored):
                raise StateCodecError(
                    f"stored {name} has {len(values)} values for {len(stored)} fields"
                )
            instance = cls(**{k: v for k, v in zip(stored, values, strict=True) if init[k]})
            for key, item in zip(stored, values, strict=True):
                if not init[key]:
                    object.__setattr__(instance, key, item)
            return instance

        return by_name


def _text_leaves() -> dict[str, Callable[[str], Any]]:
    """The leaf decoders of one text: one UUID appears several times in a state (an AE's id
    as its key, its field, in its recommendations), so each is built once per text and
    shared, as UUIDs are immutable."""
    uuids: dict[str, UUID] = {}

    def uuid_of(hex_: str) -> UUID:
        found = uuids.get(hex_)
        if found is None:
            found = uuids[hex_] = UUID(hex_)
        return found

    return {**_FROM_TEXT_LEAVES, "$uuid": uuid_of}


# The leaves the text layout tags: (tag, to text) by type, and from text by tag.
_TEXT_LEAVES: dict[type[Any], tuple[str, Callable[[Any], str]]] = {
    UUID: ("$uuid", lambda value: value.hex),
    dt.date: ("$date", lambda value: value.isoformat()),
    dt.datetime: ("$datetime", lambda value: value.isoformat()),
    Decimal: ("$decimal", str),
}
_COLLECTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "$tuple": tuple,
    "$set": set,
    "$frozenset": frozenset,
}
_FROM_TEXT_LEAVES: dict[str, Callable[[str], Any]] = {
    "$uuid": UUID,
    "$date": dt.date.fromisoformat,
    "$datetime": dt.datetime.fromisoformat,
    "$decimal": Decimal,
}
