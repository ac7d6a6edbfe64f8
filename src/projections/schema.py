"""The read models' tables: created when missing, dropped for a rebuild, indexed after a load."""

from __future__ import annotations

from collections.abc import Sequence

from projections.failures import FAILURES
from projections.store import TRACKING, Store, Table, Transaction


def create_tables(
    store: Store, tx: Transaction, tables: Sequence[Table], names: Sequence[str], *, indexes: bool
) -> None:
    """Create missing tables (with their secondary indexes, when ``indexes``) and a tracking
    row at position 0 for each read model of ``names``."""
    store.schema_lock(tx)
    for table in (TRACKING, FAILURES, *tables):
        for statement in store.create_statements(table):
            tx.execute(statement)
        if indexes:
            for statement in store.index_statements(table):
                tx.execute(statement)
    tx.executemany(
        f"INSERT INTO {store.qualified(TRACKING.name)} (name, position) VALUES (?, 0) "
        "ON CONFLICT (name) DO NOTHING",
        [(name,) for name in names],
    )


def drop_tables(
    store: Store, tx: Transaction, tables: Sequence[Table], names: Sequence[str]
) -> None:
    """Drop the tables and create them again, empty, without their secondary indexes; the
    tracking rows of ``names`` go back to 0 and their failures are forgotten (a rebuild runs
    the code as it is now: a read model that still fails stops again)."""
    for table in tables:
        for statement in store.drop_statements(table):
            tx.execute(statement)
    create_tables(store, tx, tables, names, indexes=False)  # indexes after the bulk load
    tx.executemany(
        f"UPDATE {store.qualified(TRACKING.name)} SET position = 0 WHERE name = ?",
        [(name,) for name in names],
    )
    tx.executemany(
        f"DELETE FROM {store.qualified(FAILURES.name)} WHERE name = ?", [(name,) for name in names]
    )


def create_indexes(store: Store, tables: Sequence[Table]) -> None:
    """Create the secondary indexes of tables (after a bulk load), one per transaction.

    One transaction each, so that the write lock is held for one index at a time (writers of
    events and the other runner of a parallel rebuild get their turn in between).
    """
    for table in tables:
        for statement in store.index_statements(table):
            with store.transaction() as tx:
                tx.execute(statement)
