"""Statements written for one row, run for a batch of rows as one statement on PostgreSQL.

A read model's flush changes many rows with a statement written for one (``?`` placeholders):
an upsert, an UPDATE or a DELETE by key. SQLite runs it once per row, in process
(``executemany``: no round trip, little to gain). On PostgreSQL ``executemany`` still has the
server run one statement per row and psycopg build each one; a rebuild's reminder index and
safety table spent a quarter of their process's time there (docs/benchmarks.md, "Ninth
session"). So a batch goes as one statement that takes its rows as arrays, one per placeholder,
through ``unnest`` (:func:`set_based`): a third of the time of ``executemany`` for a
batch of a thousand upserts, an eighth of its client CPU.

One statement must not touch the same table row twice: ``ON CONFLICT DO UPDATE`` refuses to,
and an ``UPDATE ... FROM`` applies one of the matching rows, unspecified which. A
:class:`RowStatement` therefore names its key: the positions of the values that name the table
row (or rows) one run of it touches. The rows go in rounds (:func:`rounds`): the first row of
each key, then the second, and so on. Rows with different keys touch different table rows, so
their order does not matter; rows with the same key keep theirs. The outcome is that of running
the rows one by one (tests/integration/test_row_statements.py checks it against ``executemany``
for every statement the read models declare).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

_INSERT = re.compile(
    r"(INSERT\s+INTO\s+\S+\s*\([^)]*\))\s+VALUES\s*\(\s*\?(?:\s*,\s*\?)*\s*\)(.*)", re.S
)
_UPDATE = re.compile(r"(UPDATE\s+\S+\s+SET\s+.*?)(\s+WHERE\s+.*)", re.S)
_DELETE = re.compile(r"DELETE\s+FROM\s+(\S+)(\s+WHERE\s+.*)", re.S)
_ALIAS = "batch"
# The statement prepared to learn a statement's parameter types: a name of its own each time,
# so that one left behind (its DEALLOCATE failed with the connection) never blocks the next.
PROBE = "doseledger_rm_parameter_types"
_probes = itertools.count(1)


class RowStatement(NamedTuple):
    """A statement written for one row, and its key: the positions, in a row of parameters, of
    the values that name the table row (or rows) it touches. Two rows with different keys
    must touch different table rows."""

    sql: str
    key: tuple[int, ...]


def rounds(rows: Sequence[Sequence[Any]], key: Sequence[int]) -> list[list[Sequence[Any]]]:
    """The rows split so that no key appears twice in a round: the n-th round holds the n-th
    row of each key, in the rows' order."""
    split: list[list[Sequence[Any]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        k = tuple(row[i] for i in key)
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(split):
            split.append([])
        split[n].append(row)
    return split


def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders as ``$1``, ``$2``...: the form PREPARE takes."""
    count = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


def parameter_types(cursor: Any, sql: str) -> list[str]:
    """The types PostgreSQL infers for the placeholders of ``sql`` (PREPARE it, read
    ``pg_prepared_statements``, DEALLOCATE), on a psycopg cursor."""
    name = f"{PROBE}_{next(_probes)}"
    cursor.execute(f"PREPARE {name} AS {numbered(sql)}")
    try:
        cursor.execute(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %s",
            (name,),
        )
        row = cursor.fetchone()
    finally:
        cursor.execute(f"DEALLOCATE {name}")
    return list(row[0]) if row is not None else []


def set_based(sql: str, types: Sequence[str]) -> str | None:
    """The statement for a round of rows: ``sql``, written for one row with ``?``, with each
    ``?`` read from a column of ``unnest(%b::type[], ...)``, one array parameter per
    placeholder, of the placeholder's ``types`` (as the server infers them for ``sql``).
    Binary arrays (``%b``): psycopg dumps a text-format array element by element in Python,
    escaping each; the binary one costs a sixth of that CPU, and the server reads it faster.

    ``INSERT INTO t (...) VALUES (?, ...) [ON CONFLICT ...]`` selects its rows from the arrays;
    ``UPDATE t SET ... WHERE ...`` and ``DELETE FROM t WHERE ...`` join them (``FROM``,
    ``USING``). None for any other statement, one whose placeholders are not all in those
    places, or one with a subquery (a second SELECT or WHERE): it then runs row by row.
    """
    if sql.count("?") != len(types) or not types:
        return None
    words = re.findall(r"[A-Za-z_]+", re.sub(r"'[^']*'", "", sql).upper())
    if words.count("WHERE") > 1 or "SELECT" in words:
        return None
    names = [f"{_ALIAS}.p{i}" for i in range(1, len(types) + 1)]
    source = (
        f"unnest({', '.join(f'%b::{t}[]' for t in types)}) "
        f"AS {_ALIAS}({', '.join(f'p{i}' for i in range(1, len(types) + 1))})"
    )
    if match := _INSERT.fullmatch(sql.strip()):
        head, tail = match.groups()
        if "?" in tail:
            return None
        return f"{head} SELECT {', '.join(names)} FROM {source}{tail}"
    values = iter(names)

    def take(text: str) -> str:
        return re.sub(r"\?", lambda _: next(values), text)

    if match := _UPDATE.fullmatch(sql.strip()):
        assignments, where = match.groups()
        return f"{take(assignments)} FROM {source}{take(where)}"
    if match := _DELETE.fullmatch(sql.strip()):
        table, where = match.groups()
        return f"DELETE FROM {table} USING {source}{take(where)}"
    return None


def columns(round_: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """A round's rows as one list per placeholder: the arrays ``set_based`` takes."""
    return [list(column) for column in zip(*round_, strict=True)]
