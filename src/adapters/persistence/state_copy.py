"""A fast copy of aggregate state, for aggregates handed out from the aggregate cache.

The library's repository deep-copies cached aggregates so that a refused command cannot leave
half-applied state behind; ``copy.deepcopy`` spends most of its time on memo bookkeeping for
values that never change. Our aggregates' state holds only containers, mutable dataclasses and
immutable leaves (str, int, float, bool, None, UUID, dates, tuples and frozen value objects), so
copying the containers and dataclasses and sharing the leaves gives the same isolation, faster.
``caching.CopyingRepository`` uses it in place of ``copy.deepcopy``.

What a value's class needs (share, copy as a container, copy as a dataclass) is worked out once
per class and kept, so a copy walks the state without asking each value what it is; the leaf
classes met most often are shared without a call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

A = TypeVar("A")

Copier = Callable[[Any], Any]

# Exactly these classes (not subclasses) are immutable and shared without a call.
_LEAVES: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), bytes, UUID, dt.date, dt.datetime, dt.time, Decimal}
)


def _share(value: Any) -> Any:
    return value


def _copy_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    leaves = _LEAVES
    return {key: item if type(item) in leaves else copy_state(item) for key, item in value.items()}


def _copy_list(value: list[Any]) -> list[Any]:
    leaves = _LEAVES
    return [item if type(item) in leaves else copy_state(item) for item in value]


def _copy_set(value: set[Any]) -> set[Any]:
    return set(value)


def _dataclass_copier(cls: type) -> Copier:
    """Copy a mutable dataclass: a new instance whose fields are copies."""
    names = tuple(field.name for field in fields(cls))
    setter = object.__setattr__
    leaves = _LEAVES

    def copy_dataclass(value: Any) -> Any:
        clone = object.__new__(cls)
        for name in names:
            item = getattr(value, name)
            setter(clone, name, item if type(item) in leaves else copy_state(item))
        return clone

    return copy_dataclass


def _copier_for(cls: type) -> Copier:
    """How to copy a value of ``cls`` (``isinstance`` order as the state may hold it)."""
    if issubclass(cls, dict):
        return _copy_dict
    if issubclass(cls, list):
        return _copy_list
    if issubclass(cls, set):
        return _copy_set
    if is_dataclass(cls):
        params = getattr(cls, "__dataclass_params__", None)
        if params is not None and params.frozen:
            return _share
        return _dataclass_copier(cls)
    return _share


_COPIERS: dict[type, Copier] = {}


def copy_state(value: Any) -> Any:
    """Copy containers and mutable dataclasses recursively; share immutable leaves."""
    cls = type(value)
    copier = _COPIERS.get(cls)
    if copier is None:
        copier = _COPIERS.setdefault(cls, _copier_for(cls))
    return copier(value)


def clone_aggregate(aggregate: A) -> A:
    """A new aggregate of the same class, with copied state."""
    clone = object.__new__(type(aggregate))
    leaves = _LEAVES
    clone.__dict__.update(
        {
            key: item if type(item) in leaves else copy_state(item)
            for key, item in aggregate.__dict__.items()
        }
    )
    return clone
