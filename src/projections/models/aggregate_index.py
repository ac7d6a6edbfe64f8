"""An index of aggregates by kind: the API keys and webhook subscriptions an admin lists.

Listing every key or subscription used to read the whole log by topic (an indexed read would
need an index on the events' topic, which SQLite then also uses, badly, for the feed's and the
runner's reads of many topics). This read model keeps one row per aggregate of the kinds it is
given (the first event's class → the kind, and the event field naming its owner, if any), in
the order they were made; a listing reads the ids here and loads those aggregates.

The kinds' classes live in the adapters (API keys and webhooks are not the domain's), so the
adapters build this model with them (``adapters.read_models.service_read_models``); the model
itself only reads the events as stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from projections.models.base import ReadModel, UndecodedHandler
from projections.store import Store, Table, Transaction
from projections.undecoded import UndecodedEvent

INDEX = Table(
    "aggregate_index",
    (("aggregate_id", "text"), ("kind", "text"), ("owner", "text"), ("position", "int")),
    key=("aggregate_id",),
    indexes=(("kind", "position"),),
)


class AggregateIndex(ReadModel):
    """One row per aggregate of the given kinds: id, kind, owner, position of its first event."""

    name = "aggregate_index"
    tables = (INDEX,)

    def __init__(self, store: Store, kinds: Mapping[type, tuple[str, str | None]]) -> None:
        """``kinds``: the class of each kind's first event → (the kind, its owner field)."""
        super().__init__(store)
        self.kinds = dict(kinds)
        self.rows: list[tuple[Any, ...]] = []

    def stored_handlers(self) -> Mapping[type, UndecodedHandler]:
        return {cls: self._created(kind, owner) for cls, (kind, owner) in self.kinds.items()}

    def _created(self, kind: str, owner: str | None) -> Callable[[int, UndecodedEvent], None]:
        def created(position: int, stored: UndecodedEvent) -> None:
            who = None if owner is None else stored.get(owner)
            self.rows.append((stored.originator_id, kind, who, position))

        return created

    def flush(self, tx: Transaction) -> None:
        self.append(tx, INDEX, self.rows)
        self.rows.clear()

    def reset(self) -> None:
        self.rows.clear()


def aggregate_ids(
    tx: Transaction, store: Store, kind: str, *, owner: str | None = None
) -> list[str]:
    """The ids of the aggregates of ``kind`` (of ``owner``, unless None), oldest first."""
    sql = f"SELECT aggregate_id FROM {store.qualified('aggregate_index')} WHERE kind = ?"
    params: list[Any] = [kind]
    if owner is not None:
        sql += " AND owner = ?"
        params.append(owner)
    return [str(row[0]) for row in tx.fetchall(sql + " ORDER BY position", params)]
