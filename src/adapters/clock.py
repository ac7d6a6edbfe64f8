"""The clock every scheduled tick reads: a callable returning an aware UTC datetime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def starting_at(instant: dt.datetime) -> Clock:
    """A clock that reads ``instant`` now and runs on in real time from there (tests, demos)."""
    offset = instant.astimezone(dt.UTC) - utc_now()
    return lambda: utc_now() + offset
