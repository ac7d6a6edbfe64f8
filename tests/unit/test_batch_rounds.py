"""How a statement written for one row becomes one statement per round of rows
(``projections.row_statements``); what the result leaves in PostgreSQL is tested against
running the rows one by one in tests/integration/test_row_statements.py."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.row_statements import columns, numbered, rounds, set_based

ROWS = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 2), st.integers()), max_size=30)


@given(rows=ROWS, key=st.sampled_from([(0,), (1,), (0, 1)]))
def test_rounds_keep_each_keys_order_and_never_repeat_a_key(
    rows: list[tuple[Any, ...]], key: tuple[int, ...]
) -> None:
    rows = [(*row, i) for i, row in enumerate(rows)]  # each row told apart by its place
    split = rounds(rows, key)

    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in key)

    for round_ in split:
        assert round_
        assert len({key_of(r) for r in round_}) == len(round_)
    by_key_before: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_key_before[key_of(row)].append(row)
    by_key_after: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for round_ in split:
        for row in round_:
            by_key_after[key_of(row)].append(row)
    assert by_key_after == by_key_before
    # Within a round the rows keep the batch's order.
    for round_ in split:
        assert sorted(round_, key=lambda r: r[-1]) == round_
    assert len(split) == max((len(v) for v in by_key_before.values()), default=0)


def test_columns_turn_rows_into_one_list_per_placeholder() -> None:
    assert columns([("a", 1, None), ("b", 2, "x")]) == [["a", "b"], [1, 2], [None, "x"]]


def test_placeholders_are_numbered_for_prepare() -> None:
    assert numbered("UPDATE t SET a = ? WHERE k = ?") == "UPDATE t SET a = $1 WHERE k = $2"


def test_an_upsert_selects_its_rows_from_the_arrays() -> None:
    sql = "INSERT INTO s.t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    assert set_based(sql, ["text", "bigint"]) == (
        "INSERT INTO s.t (k, v) SELECT batch.p1, batch.p2 FROM "
        "unnest(%b::text[], %b::bigint[]) AS batch(p1, p2) "
        "ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    )


def test_an_update_and_a_delete_join_the_arrays() -> None:
    update = "UPDATE t SET state = 'cleared', closed = ? WHERE id = ? AND state = 'open'"
    assert set_based(update, ["bigint", "text"]) == (
        "UPDATE t SET state = 'cleared', closed = batch.p1 FROM "
        "unnest(%b::bigint[], %b::text[]) AS batch(p1, p2) "
        "WHERE id = batch.p2 AND state = 'open'"
    )
    delete = "DELETE FROM t WHERE id = ? AND state = 'open'"
    assert set_based(delete, ["text"]) == (
        "DELETE FROM t USING unnest(%b::text[]) AS batch(p1) WHERE id = batch.p1 AND state = 'open'"
    )


def test_any_other_statement_runs_row_by_row() -> None:
    assert set_based("SELECT * FROM t WHERE id = ?", ["text"]) is None
    # A placeholder after VALUES (it would not be read from the arrays).
    upsert = "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = ?"
    assert set_based(upsert, ["text", "bigint", "bigint"]) is None
    # Types that do not match the placeholders, or no placeholder at all.
    assert set_based("DELETE FROM t WHERE id = ?", ["text", "text"]) is None
    assert set_based("DELETE FROM t WHERE id = 1", []) is None
    # A subquery: its WHERE is not the statement's.
    nested = "UPDATE t SET a = (SELECT max(b) FROM u WHERE u.k = t.k) WHERE id = ?"
    assert set_based(nested, ["text"]) is None
    assert set_based("DELETE FROM t WHERE id IN (SELECT id FROM u WHERE k = ?)", ["text"]) is None
