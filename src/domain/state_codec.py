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

Text layouts. ``encode``/``decode`` give the data above, which the transcoder then stores as
JSON objects (snapshots of ``class_version`` 1). The text layouts are one JSON text that the
transcoder stores as a single string: it then calls no Python hook for each object of the
state and converts no leaf. Leaves that JSON cannot carry and the tagged values are one-key
objects (``{"$uuid": hex}``, ``{"$date": iso}``, ``{"$datetime": iso}``, ``{"$decimal":
text}``, ``{"$tuple": [...]}``, ``{"$set": [...]}``, ``{"$frozenset": [...]}``, ``{"$dict":
[[key, value], ...]}``, ``{"$dataclass": [name, fields]}``, ``{"$model": [name, data]}``); a
one-key dict whose key is one of these tags is stored as ``$dict`` pairs.

- ``dumps``/``loads`` (snapshots of ``class_version`` 3), compact: the text is ``[{"$fields":
  {name: [field, ...]}}, data]``; a dataclass's ``fields`` are the list of its values in the
  header's order, and a model's ``data`` (its JSON-mode dump) is escaped like any dict.
  ``loads`` decodes in the C parser's object hook (one call per JSON object, none per list or
  leaf); a dataclass whose stored fields are its current ones is built from its list at once,
  otherwise by name (fields added since take their defaults, unknown ones are refused).
- ``dumps_v2``/``loads_v2`` (``class_version`` 2), kept for upcasting: ``fields`` by name,
  no header; ``loads_v2`` walks the parsed text's containers in Python.
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

KIND = "__kind__"
LEAF_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, UUID, Decimal, dt.date, dt.datetime}
)
# The library's transcoder reads any two-key object with these keys as a transcoded value.
_TRANSCODED_KEYS = frozenset({"_type_", "_data_"})
# The text layout (dumps/loads): the tags of one-key objects, and the containers loads walks.
FIELDS_TAG = "$fields"
TEXT_TAGS = frozenset(
    {"$uuid", "$date", "$datetime", "$decimal", "$tuple", "$set", "$frozenset", "$dict"}
    | {"$dataclass", "$model", FIELDS_TAG}
)
_V2_TAGS = TEXT_TAGS - {FIELDS_TAG}  # the earlier layout had no header
_CONTAINERS = frozenset({dict, list})
_TEXT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


class _Layouts:
    """What the hook makes of the header: the field layouts are kept by the hook itself."""


class StateCodecError(TypeError):
    """State holds a value the codec cannot encode exactly, or data it cannot decode."""


class StateCodec:
    """Encodes state as JSON-friendly data and decodes it back; see the module docstring."""

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
            values = {f: getattr(value, f) for f in self._field_names[kind]}
            return {KIND: "dataclass", "name": name, "fields": self._encode_dict(values)}
        name = self._model_names.get(kind)
        if name is not None:
            return {KIND: "model", "name": name, "data": value.model_dump(mode="json")}
        raise self._refusal(kind)

    @staticmethod
    def _refusal(kind: type[Any]) -> StateCodecError:
        return StateCodecError(
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
        init = self._init_fields[cls]
        if not values.keys() <= init.keys():
            unknown = set(values) - set(init)
            raise StateCodecError(
                f"stored {name} has fields {sorted(unknown)} that {cls.__qualname__} lacks"
            )
        # The constructor fills fields added (with defaults) since the snapshot was taken.
        try:
            if self._all_init[cls]:
                return cls(**values)
            instance = cls(**{k: v for k, v in values.items() if init[k]})
        except TypeError as exc:
            raise StateCodecError(f"cannot rebuild stored {name}: {exc}") from exc
        for key, item in values.items():
            if not init[key]:
                object.__setattr__(instance, key, item)
        return instance

    # ----------------------------------------------------------------- text layout

    def dumps(self, value: Any) -> str:
        """One JSON text for a value, in the compact layout (see the module docstring)."""
        used: set[type[Any]] = set()
        data = self._to_text_data(value, used)
        layouts = {self._dataclass_names[cls]: self._field_names[cls] for cls in used}
        return _TEXT_ENCODER.encode([{FIELDS_TAG: layouts}, data])

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

    def dumps_v2(self, value: Any) -> str:
        """The earlier text layout (dataclass fields by name, no header): for upcasters."""
        return _TEXT_ENCODER.encode(self._to_text_data(value, None))

    def loads_v2(self, text: str | bytes) -> Any:
        """The value that ``dumps_v2`` turned into ``text``."""
        data = json.loads(text)
        return self._text_walker()(data) if type(data) in _CONTAINERS else data

    def _to_text_data(self, value: Any, used: set[type[Any]] | None) -> Any:
        """Text data; dataclass fields as a list in the header's order when ``used`` (the
        dataclasses met) is given, else by name (the earlier layout)."""
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
            fields = self._field_names[kind]
            if used is None:
                by_name = {f: self._to_text_data(getattr(value, f), None) for f in fields}
                return {"$dataclass": [name, by_name]}
            used.add(kind)
            return {
                "$dataclass": [name, [self._to_text_data(getattr(value, f), used) for f in fields]]
            }
        name = self._model_names.get(kind)
        if name is not None:
            dump = value.model_dump(mode="json")
            # Compact layout: the dump's objects go through the same hook, so they are escaped.
            return {"$model": [name, dump if used is None else self._to_text_data(dump, used)]}
        raise self._refusal(kind)

    def _dict_text_data(self, value: dict[Any, Any], used: set[type[Any]] | None) -> Any:
        if all(type(key) is str for key in value) and not (
            len(value) == 1 and next(iter(value)) in TEXT_TAGS
        ):
            return {key: self._to_text_data(item, used) for key, item in value.items()}
        pairs = [
            [self._to_text_data(k, used), self._to_text_data(v, used)] for k, v in value.items()
        ]
        return {"$dict": pairs}

    def _text_hook(self) -> Callable[[dict[str, Any]], Any]:
        """The ``object_hook`` of one ``loads``: tagged objects to values, others kept.

        JSON objects close inner first, so a tag's contents are decoded when its hook runs;
        the header (``$fields``, first in the text) closes before any dataclass. A dataclass
        stored with its class's current fields, all set by the constructor, is built from
        its list at once; otherwise by name (fields added since take their defaults).
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
                    return models[name].model_validate(data)
                if tag in _COLLECTIONS:
                    return _COLLECTIONS[tag](inner)
                if tag == FIELDS_TAG:
                    for name, fields in inner.items():
                        builders[name] = self._builder(name, tuple(fields))
                    return _Layouts()
            return obj

        return hook

    def _builder(self, name: str, stored: tuple[str, ...]) -> Callable[[list[Any]], Any]:
        cls = self._dataclasses.get(name)
        if cls is None:
            raise StateCodecError(f"cannot decode stored {name}: no dataclass of that name")
        if stored == self._field_names[cls] and self._all_init[cls]:
            return lambda values: cls(*values)

        def by_name(values: list[Any]) -> Any:
            if len(values) != len(stored):
                raise StateCodecError(
                    f"stored {name} has {len(values)} values for {len(stored)} fields"
                )
            return self._decode_dataclass(name, dict(zip(stored, values, strict=True)))

        return by_name

    def _text_walker(self) -> Callable[[Any], Any]:
        """A walk over one parsed text: containers rebuilt, tagged objects decoded.

        Leaves JSON carries are taken as they are, without a call.
        """
        leaves = _text_leaves()
        containers = _CONTAINERS

        def walk(data: Any) -> Any:
            if type(data) is list:
                return [walk(item) if type(item) in containers else item for item in data]
            if len(data) == 1:
                for tag, inner in data.items():
                    leaf = leaves.get(tag)
                    if leaf is not None and type(inner) is str:
                        return leaf(inner)
                    if tag in _V2_TAGS:
                        return tagged(tag, inner)
            return {k: walk(item) if type(item) in containers else item for k, item in data.items()}

        def tagged(tag: str, inner: Any) -> Any:
            try:
                if tag == "$dict":
                    return {
                        (walk(k) if type(k) in containers else k): (
                            walk(v) if type(v) in containers else v
                        )
                        for k, v in inner
                    }
                if tag == "$dataclass":
                    name, fields = inner
                    return self._decode_dataclass(name, walk(fields))
                if tag == "$model":
                    name, model_data = inner
                    return self._models[name].model_validate(model_data)
                if tag in _COLLECTIONS:
                    items = [walk(item) if type(item) in containers else item for item in inner]
                    return _COLLECTIONS[tag](items)
                return leaves[tag](inner)
            except StateCodecError:
                raise
            except (KeyError, ValueError, TypeError) as exc:
                raise StateCodecError(f"cannot decode {tag} state: {exc}") from exc

        return walk


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
