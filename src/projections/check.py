"""``projections check``: rebuild every read model in a scratch file and compare, row by row."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from projections.runner import Progress
from projections.store import TRACKING, SQLiteStore, Store, Table, Transaction

if TYPE_CHECKING:
    from projections.read_models import ReadModels

REPORTED_DIFFERENCES = 20


@dataclass
class Difference:
    """One row that differs between the live read models and a rebuild from zero."""

    read_model: str
    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        """The difference as plain data."""
        return {
            "read_model": self.read_model,
            "table": self.table,
            "key": self.key,
            "live": self.live,
            "rebuilt": self.rebuilt,
        }


@dataclass
class CheckReport:
    """The outcome of :func:`check`."""

    position: int
    rows: int = 0
    count: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when the live read models equal a rebuild from zero."""
        return self.count == 0

    def add(self, difference: Difference) -> None:
        """Count a difference (the first few are kept for the report)."""
        self.count += 1
        if len(self.differences) < REPORTED_DIFFERENCES:
            self.differences.append(difference)

    def as_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "equal": self.equal,
            "position": self.position,
            "rows_compared": self.rows,
            "differences": self.count,
            "shown": [d.as_json() for d in self.differences],
        }


def check(live_models: ReadModels, progress: Progress | None = None) -> CheckReport:
    """Rebuild every read model into a scratch SQLite file and compare it with the live ones.

    The live tables are read in one snapshot, and the scratch rebuild stops at the live
    position: a runner following meanwhile does not make a difference.
    """
    live_models.ensure_schema()
    store = live_models.store
    with tempfile.TemporaryDirectory(prefix="doseledger-check-") as folder:
        scratch = live_models.beside(SQLiteStore(os.path.join(folder, "scratch.db")))
        try:
            with store.snapshot() as live:
                positions = live_models.runner.positions(live)
                position = max(positions.values())
                report = CheckReport(position)
                for name, at in positions.items():
                    if at != position:
                        report.add(
                            Difference(
                                name,
                                TRACKING.name,
                                {"name": name},
                                {"position": at},
                                {"position": position},
                            )
                        )
                scratch.rebuild(progress, until=position, workers=1)
                with scratch.store.snapshot() as rebuilt:
                    for model in live_models.models:
                        for table in model.tables:
                            _compare(model.name, table, store, live, scratch.store, rebuilt,
                                     report)  # fmt: skip
        finally:
            scratch.store.close()
    return report


def select_ordered(store: Store, table: Table) -> str:
    """Every row of a table, in primary-key order."""
    return (
        f"SELECT {', '.join(table.column_names)} FROM {store.qualified(table.name)} "
        f"ORDER BY {store.order_by(table)}"
    )


def _compare(
    name: str,
    table: Table,
    store: Store,
    live: Transaction,
    other: Store,
    rebuilt: Transaction,
    report: CheckReport,
) -> None:
    """Merge two key-ordered streams of one table and report the rows that differ."""
    columns = table.column_names
    key_index = [columns.index(k) for k in table.key]

    def rows(store: Store, tx: Transaction) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        for row in tx.stream(select_ordered(store, table)):
            yield tuple(row[i] for i in key_index), tuple(row)

    def differ(key: tuple[Any, ...], a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> None:
        report.add(
            Difference(
                name,
                table.name,
                dict(zip(table.key, key, strict=True)),
                None if a is None else dict(zip(columns, a, strict=True)),
                None if b is None else dict(zip(columns, b, strict=True)),
            )
        )

    left, right = rows(store, live), rows(other, rebuilt)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        report.rows += 1
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            differ(a[0], a[1], None)
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            differ(b[0], None, b[1])
            b = next(right, None)
        else:
            if a[1] != b[1]:
                differ(a[0], a[1], b[1])
            a, b = next(left, None), next(right, None)
