"""A fast deep copy for aggregate state, used when aggregates are taken from the cache.

The library deep-copies cached aggregates so that a refused command cannot leave half-applied
state behind; ``copy.deepcopy`` spends most of its time on memo bookkeeping for values that
never change. Our state holds only containers, mutable dataclasses and immutable leaves
(str, int, float, bool, None, UUID, dates, tuples and frozen value objects), so copying the
containers and dataclasses and sharing the leaves gives the same isolation, faster.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any


def copy_state(value: Any) -> Any:
    """Copy containers and mutable dataclasses recursively; share immutable leaves."""
    if isinstance(value, dict):
        return {key: copy_state(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_state(item) for item in value]
    if isinstance(value, set):
        return set(value)
    if is_dataclass(value) and not isinstance(value, type):
        params = getattr(type(value), "__dataclass_params__", None)
        if params is not None and params.frozen:
            return value
        clone = object.__new__(type(value))
        for field in fields(value):
            object.__setattr__(clone, field.name, copy_state(getattr(value, field.name)))
        return clone
    return value


def clone_aggregate(self: Any, memo: dict[int, Any] | None = None) -> Any:
    """``__deepcopy__`` for aggregates: a new object with copied state."""
    clone = object.__new__(type(self))
    clone.__dict__.update({key: copy_state(item) for key, item in self.__dict__.items()})
    return clone
