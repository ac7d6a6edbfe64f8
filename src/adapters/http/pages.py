"""Cursor pagination of lists (``GET /trials``, ``GET /webhooks``): ``after``, ``limit``,
``next``.

A page is ``{"<items>": [...], "next": CURSOR | null}``: pass ``next`` back as ``after`` for the
following page; ``null`` means this was the last. Cursors are opaque strings (a store position
for trials, the last item's id for webhook subscriptions); an unknown cursor is a 422 naming
``after``. Pages never repeat or skip an item that existed when the first was read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from domain.errors import InvalidInput

MAX_LIMIT = 1000
After = Annotated[
    str | None,
    Query(
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


def position(after: str | None) -> int:
    """A store-position cursor as an int (0: from the start)."""
    if after is None:
        return 0
    if not (after.isascii() and after.isdigit()) or len(after) > 19:
        raise bad_cursor(after)
    return int(after)


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
