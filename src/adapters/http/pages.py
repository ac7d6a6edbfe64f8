"""Cursor pagination of every list: ``after``, ``limit``, ``next``.

A page is ``{"<items>": [...], "next": CURSOR | null}``: pass ``next`` back as ``after`` for the
following page; ``null`` means this was the last. Cursors are opaque strings: the key of the
page's last item in the list's order, as dot-separated decimal numbers (a store position for
trials, the audit trail and webhook deliveries; position and sequence for a timeline; the due
time shown, in µs since 0001-01-01 UTC, and the id as an integer for reminders), or the last
item's id (webhook subscriptions, protocol templates). A cursor the list did not hand out is a
422 naming ``after``. Pages never repeat or skip an item that existed, unchanged, when the
first was read.

Lists read by SQL fetch ``limit + 1`` rows after the cursor's key (``WHERE key > ? ORDER BY key
LIMIT ?``); ``page`` makes the answer of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query

from domain.errors import InvalidInput

MAX_LIMIT = 1000
After = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="The `next` of the page before (opaque); omitted: from the first item",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many items")]


def bad_cursor(after: str) -> InvalidInput:
    """The 422 for a cursor this list did not hand out."""
    return InvalidInput(
        f"'{after[:64]}' is not a cursor of this list (a page's `next`)", field="after"
    )


def key(after: str | None, width: int = 1, digits: int = 19) -> tuple[int, ...] | None:
    """A cursor of ``width`` dot-separated non-negative integers of at most ``digits`` digits
    (None: from the first item)."""
    if after is None:
        return None
    parts = after.split(".")
    if len(parts) != width or not all(
        part.isascii() and part.isdigit() and len(part) <= digits for part in parts
    ):
        raise bad_cursor(after)
    return tuple(int(part) for part in parts)


def position(after: str | None) -> int:
    """A store-position cursor as an int (0: from the start)."""
    found = key(after)
    return 0 if found is None else found[0]


def cursor(*parts: int) -> str:
    """The cursor of a key: its numbers, dot-separated (what ``key`` reads back)."""
    return ".".join(str(part) for part in parts)


def page(
    rows: list[Any], limit: int, name: str, key_of: Callable[[Any], tuple[int, ...]]
) -> dict[str, Any]:
    """The page of up to ``limit + 1`` ``rows`` read after a cursor in the list's order (the
    extra row only says there is more): ``{name: rows[:limit], "next": cursor | None}``."""
    items = rows[:limit]
    return {name: items, "next": cursor(*key_of(items[-1])) if len(rows) > limit else None}


def page_of(rows: list[dict[str, Any]], after: str | None, limit: int, name: str) -> dict[str, Any]:
    """A page of ``rows`` (in a stable order, each with an ``id``) after the row ``after``."""
    start = 0
    if after is not None:
        ids = [str(row["id"]) for row in rows]
        if after not in ids:
            raise bad_cursor(after)
        start = ids.index(after) + 1
    items = rows[start : start + limit]
    more = start + limit < len(rows)
    return {name: items, "next": str(items[-1]["id"]) if more and items else None}


def page_at(name: str, rows: list[Any], following: int | None) -> dict[str, Any]:
    """The page of ``rows`` read by a store whose next page starts after ``following`` (its
    key; None: this was the last)."""
    return {name: rows, "next": None if following is None else cursor(following)}
