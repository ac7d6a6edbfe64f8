"""A fast copy of aggregate state, for aggregates handed out from the aggregate cache.

The library's repository deep-copies cached aggregates so that a refused command cannot leave
half-applied state behind; ``copy.deepcopy`` spends most of its time on memo bookkeeping for
values that never change. Our aggregates' state holds only containers, mutable dataclasses and
immutable leaves (str, int, float, bool, None, UUID, dates, tuples and frozen value objects), so
copying the containers and dataclasses and sharing the leaves gives the same isolation, faster.
``caching.CopyingRepository`` uses it in place of ``copy.deepcopy``.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

A = TypeVar("A")


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


def clone_aggregate(aggregate: A) -> A:
    """A new aggregate of the same class, with copied state."""
    clone = object.__new__(type(aggregate))
    clone.__dict__.update({key: copy_state(item) for key, item in aggregate.__dict__.items()})
    return clone
