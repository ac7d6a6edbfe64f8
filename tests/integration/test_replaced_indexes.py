"""A read-model store kept across an upgrade drops the indexes a release replaced."""

from __future__ import annotations

from adapters.bootstrap import build_read_models
from projections.models.reminder_index import REMINDERS
from projections.store import PostgresStore, Store


def index_names(store: Store, table: str) -> set[str]:
    with store.snapshot() as tx:
        if not isinstance(store, PostgresStore):
            rows = tx.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                (store.qualified(table),),
            )
        else:
            rows = tx.fetchall(
                "SELECT indexname FROM pg_indexes WHERE schemaname = ? AND tablename = ?",
                (store.schema, store.prefix + table),
            )
    return {row[0] for row in rows}


def plain(store: Store, columns: tuple[str, ...]) -> str:
    return store.index_name(REMINDERS.name, columns).strip('"')


def test_the_reminder_index_replaces_its_due_index_in_a_store_of_an_earlier_release(
    database_url: str,
) -> None:
    old, new = ("state", "due_at"), ("state", "due_at", "reminder_id")
    assert REMINDERS.replaced_indexes == (old,) and new in REMINDERS.indexes
    read_models = build_read_models(database_url)
    try:
        read_models.ensure_schema()
        store = read_models.store
        # The store as the earlier release left it: the old index, not the new one.
        with store.transaction() as tx:
            tx.execute(f"DROP INDEX IF EXISTS {store.qualified_index(REMINDERS.name, new)}")
            tx.execute(
                f"CREATE INDEX {store.index_name(REMINDERS.name, old)} "
                f"ON {store.qualified(REMINDERS.name)} (state, due_at)"
            )
        names = index_names(store, REMINDERS.name)
        assert plain(store, old) in names and plain(store, new) not in names
    finally:
        read_models.close()

    reopened = build_read_models(database_url)
    try:
        reopened.ensure_schema()
        names = index_names(reopened.store, REMINDERS.name)
        assert plain(reopened.store, new) in names
        assert plain(reopened.store, old) not in names
    finally:
        reopened.close()
