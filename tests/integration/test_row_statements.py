"""Every statement a read model runs for a batch of rows (a ``RowStatement``) leaves its table as
running it row by row would, on PostgreSQL, where a batch goes as one statement per round of
distinct keys (``projections.row_statements``): rows whose keys repeat, rows that conflict
with the table's rows, NULLs, rows that match nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import build_read_models
from adapters.persistence.environment import persistence_env
from projections.read_models import ReadModels
from projections.row_statements import RowStatement, parameter_types
from projections.store import TRACKING, PostgresStore, Table, Transaction, open_store

# Few values, so that keys repeat within a batch and meet the table's rows; the reminder
# index's states among them, so that its ``state = 'open'`` conditions both hold and fail.
TEXTS = ("a", "b", "open", "issued", "cleared")
INTS = (0, 1, 2)


def declared_statements(read_models: ReadModels) -> dict[str, RowStatement]:
    """Every RowStatement held by a read model or the runner, by where it is held."""
    found: dict[str, RowStatement] = {}
    for owner in (*read_models.models, read_models.runner):
        for attribute, value in vars(owner).items():
            items = value.items() if isinstance(value, dict) else [("", value)]
            for name, statement in items:
                if isinstance(statement, RowStatement):
                    where = f"{type(owner).__name__}.{attribute}" + (f"[{name}]" if name else "")
                    found[where] = statement
    return found


def _names() -> list[str]:
    read_models = build_read_models("sqlite:///:memory:")
    try:
        return sorted(declared_statements(read_models))
    finally:
        read_models.close()


STATEMENTS = _names()


def test_the_read_models_declare_their_batch_statements() -> None:
    # The statements that run for many rows in a rebuild: none may be left out of the test.
    for where in (
        "SafetyTable._keep_worst",
        "ReminderIndex._sql[open]",
        "ReminderIndex._sql[clear]",
        "ReminderIndex._upsert_fold",
        "CohortSummary._upsert_cohort",
        "TrialOverview._upsert",
        "ReadModelRunner._set_position",
    ):
        assert where in STATEMENTS


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[tuple[ReadModels, PostgresStore]]:
    url: str = request.getfixturevalue("postgres_url")
    read_models = build_read_models(url)
    read_models.catch_up()  # creates the tables
    store = open_store(persistence_env(url))
    assert isinstance(store, PostgresStore)
    try:
        yield read_models, store
    finally:
        store.close()
        read_models.close()


def _table(read_models: ReadModels, sql: str) -> Table:
    name = re.match(r"\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\S+)", sql)
    assert name is not None
    by_name = {read_models.store.qualified(t.name): t for t in (*read_models.tables, TRACKING)}
    return by_name[name.group(1)]


def _value(kind: str, nullable: bool) -> st.SearchStrategy[Any]:
    values = st.sampled_from(INTS if kind == "bigint" else TEXTS)
    return values | st.none() if nullable else values


def _outcome(
    store: PostgresStore, table: Table, initial: Sequence[Sequence[Any]], run: Callable[[Any], None]
) -> tuple[str, list[tuple[Any, ...]]]:
    """The table's rows after ``run`` on a table holding ``initial`` (rolled back), or the
    error's class."""
    name = store.qualified(table.name)
    columns = ", ".join(table.column_names)
    connection = store._connected()
    try:
        with connection.transaction(force_rollback=True), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {name}")
            if initial:
                placeholders = ", ".join(["%s"] * len(table.columns))
                cursor.executemany(
                    f"INSERT INTO {name} ({columns}) VALUES ({placeholders}) "
                    "ON CONFLICT DO NOTHING",
                    initial,
                )
            run(cursor)
            cursor.execute(f"SELECT {columns} FROM {name}")
            return "", sorted((tuple(r) for r in cursor.fetchall()), key=repr)
    except psycopg.Error as exc:
        return type(exc).__name__, []


@pytest.mark.postgres
@pytest.mark.parametrize("where", STATEMENTS)
def test_a_batch_statement_leaves_what_row_by_row_leaves(
    postgres: tuple[ReadModels, PostgresStore], where: str
) -> None:
    read_models, store = postgres
    statement = declared_statements(read_models)[where]
    table = _table(read_models, statement.sql)
    with store._connected().cursor() as cursor:
        types = parameter_types(cursor, statement.sql)
    assert len(types) == statement.sql.count("?")
    table_row = st.tuples(
        *(
            _value("bigint" if kind == "int" else "text", nullable=name not in table.key)
            for name, kind in table.columns
        )
    )
    parameters = st.tuples(
        *(_value(kind, nullable=i not in statement.key) for i, kind in enumerate(types))
    )

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(initial=st.lists(table_row, max_size=6), rows=st.lists(parameters, max_size=10))
    def check(initial: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> None:
        one_by_one = _outcome(
            store, table, initial, lambda c: c.executemany(store.sql(statement.sql), rows)
        )
        batched = _outcome(
            store,
            table,
            initial,
            lambda c: Transaction(store, c).executemany(statement, rows),
        )
        assert batched == one_by_one

    check()
    # The batch form was used, not the row-by-row fallback.
    assert store._set_based[statement.sql] is not None
