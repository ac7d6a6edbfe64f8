"""``Store.insert``, the read models' bulk append (multi-row INSERT on SQLite, COPY on PostgreSQL),
stores any text and integer it is given as it was given: tabs, newlines, backslashes, quotes,
NULLs, characters outside the BMP, and 64-bit integers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.persistence.environment import persistence_env
from projections.store import INSERT_ROWS, Store, Table, open_store

TABLE = Table(
    "insert_probe",
    (("position", "int"), ("label", "text"), ("note", "text"), ("amount", "int")),
    key=("position",),
)
# What a database's text holds: no NUL (neither SQLite's API nor PostgreSQL's text takes it)
# and no lone surrogate (not UTF-8).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
ROW = st.tuples(TEXT, st.none() | TEXT, st.none() | st.integers(-(2**63), 2**63 - 1))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(persistence_env(database_url))
    with opened.transaction() as tx:
        for statement in opened.create_statements(TABLE):
            tx.execute(statement)
    try:
        yield opened
    finally:
        opened.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, max_size=INSERT_ROWS * 2 + 3))
def test_inserted_rows_read_back_as_given(store: Store, rows: list[tuple[object, ...]]) -> None:
    table = store.qualified(TABLE.name)
    numbered = [(position, *row) for position, row in enumerate(rows)]
    with store.transaction() as tx:
        tx.execute(f"DELETE FROM {table}")
        tx.insert(TABLE, numbered)
    with store.snapshot() as tx:
        stored = tx.fetchall(
            f"SELECT {', '.join(TABLE.column_names)} FROM {table} ORDER BY position"
        )
    assert stored == numbered


def test_a_refused_insert_leaves_nothing(store: Store) -> None:
    table = store.qualified(TABLE.name)
    with (
        pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)),
        store.transaction() as tx,
    ):
        tx.insert(TABLE, [(1, "a", None, 1), (1, "again", None, 2)])
    with store.snapshot() as tx:
        assert tx.fetchall(f"SELECT position FROM {table}") == []
