"""What every read model is: tables, handlers per event class, and a flush per batch.

The shape of the library's ``eventsourcing.projection.Projection``: the event ``topics`` a model
takes and ``process_event``. The runner (``projections.runner``) feeds a batch of events to every
model and commits their rows with the tracking positions in one transaction, where the library's
runner would commit each event on its own.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Generic, TypeVar

from eventsourcing.utils import get_topic

from projections.store import Store, Table, Transaction
from projections.undecoded import UndecodedEvent

K = TypeVar("K")
V = TypeVar("V")
Handler = Callable[[int, Any], None]
UndecodedHandler = Callable[[int, UndecodedEvent], None]
UTC = dt.UTC


class ReadModel(ABC):
    """A view kept up to date from the notification log by the runner.

    The runner opens one transaction per batch, calls :meth:`begin`, then a handler for each
    event the model has not seen (by the model's tracking position), then :meth:`flush`, and
    commits the view and every tracking row together. Handlers change in-memory state and
    queue rows; :meth:`flush` writes them, new rows with :meth:`append` (COPY on PostgreSQL)
    and changes with ``executemany``. After a failed batch the
    runner calls :meth:`reset`: caches are dropped and re-read from the tables on demand.
    """

    name: str
    tables: tuple[Table, ...]
    #: True for a model that takes every event as stored (the audit trail); it then implements
    #: ``handle_stored`` (see ``projections.undecoded``).
    takes_all_stored: bool = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tx: Transaction | None = None
        self.sql_names = {table.name: store.qualified(table.name) for table in self.tables}

    def append(self, tx: Transaction, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """New rows of one of this model's tables, by the store's bulk append
        (``Transaction.insert``)."""
        tx.insert(table, rows)

    @property
    def tx(self) -> Transaction:
        """The open batch transaction (for look-ups that miss the caches)."""
        assert self._tx is not None, "read models read the store only inside a batch"
        return self._tx

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics of the event classes the model takes (every topic: ``takes_all_stored``)."""
        classes = {*self.handlers(), *self.stored_handlers()}
        return tuple(sorted(event_topic(cls) for cls in classes))

    def process_event(self, event: Any, position: int) -> None:
        """Give one domain event to the model's handler of its class (inside a batch).

        The runner calls the handlers itself, routed once per class, and hands undecoded events
        to the stored handlers; this is the same for one decoded event.
        """
        handler = self.handlers().get(type(event))
        if handler is not None:
            handler(position, event)
            return
        on_stored = self.stored_handlers().get(type(event))
        if on_stored is None and self.takes_all_stored:
            on_stored = self.handle_stored
        if on_stored is not None:
            on_stored(position, UndecodedEvent.of_event(event))

    def handlers(self) -> Mapping[type, Handler]:
        """The bound handler of each event class the model reads as domain events."""
        return {}

    def stored_handlers(self) -> Mapping[type, UndecodedHandler]:
        """The bound handler of each event class the model reads as stored (``UndecodedEvent``)."""
        return {}

    def handle_stored(self, position: int, stored: UndecodedEvent) -> None:  # noqa: B027 (optional)
        """Any event as stored (for a model that ``takes_all_stored``)."""

    def begin(self, tx: Transaction) -> None:
        """A batch starts in ``tx``."""
        self._tx = tx

    @abstractmethod
    def flush(self, tx: Transaction) -> None:
        """Write what the batch changed (same transaction as the tracking rows)."""

    def end(self) -> None:
        """The batch transaction is over (committed or rolled back)."""
        self._tx = None

    @abstractmethod
    def reset(self) -> None:
        """Forget every cache and queued row (after a rollback, or when another process moved)."""


def event_topic(cls: type) -> str:
    """The topic an event class is stored under (ours name it explicitly)."""
    return str(getattr(cls, "TOPIC", None) or get_topic(cls))


class Lru(Generic[K, V]):
    """A bounded least-recently-used map; trimmed only between batches (never a dirty entry)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The cached value, marked as recently used."""
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Cache a value."""
        self.data[key] = value
        self.data.move_to_end(key)

    def trim(self) -> None:
        """Evict the least recently used entries beyond the capacity."""
        data = self.data
        while len(data) > self.capacity:
            data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self.data.clear()

    def __len__(self) -> int:
        return len(self.data)


def iso(value: dt.date | None) -> str | None:
    """A date (or datetime) in ISO 8601, or None."""
    return None if value is None else value.isoformat()


def recorded_at(event: Any) -> str:
    """When the store recorded the event: server UTC in ISO 8601 (as the audit rows write it)."""
    stamp: dt.datetime = event.timestamp
    return stamp.astimezone(UTC).isoformat()


# json.dumps(value, sort_keys=True, separators=(",", ":"), default=str), without building an
# encoder (and its C scanner) on every call: views write one or more JSON texts per event. The C
# encoder is built once, as json.dumps builds it, minus the circular-reference bookkeeping
# (event data, decoded from JSON, cannot hold a cycle); without the C accelerator, the
# equivalent JSONEncoder instance is used.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_C_CANONICAL = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, str, encode_basestring_ascii, None, ":", ",", True, False, True)
)


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): equal data gives equal text in every rebuild."""
    if _C_CANONICAL is None or type(value) is str:
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


def loads(text: str | None) -> Any:
    """JSON text back to data (None stays None)."""
    return None if text is None else json.loads(text)
