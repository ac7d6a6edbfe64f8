"""argparse value types shared by the CLI's command modules (each error is one line, exit 2)."""

from __future__ import annotations

import argparse
import datetime as dt
from uuid import UUID


def uuid_arg(text: str) -> UUID:
    """A trial, patient or key id."""
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a UUID") from None


def date_arg(text: str) -> dt.date:
    """A clinical date, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def instant_arg(text: str) -> dt.datetime:
    """An ISO 8601 instant; without a UTC offset it is read as UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 timestamp (e.g. 2026-03-02T14:30:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def seconds_arg(text: str) -> int:
    """A scheduler interval: a whole number of seconds, 1 to 86400."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of seconds") from None
    if not 1 <= seconds <= 86_400:
        raise argparse.ArgumentTypeError(f"{seconds} seconds is outside 1-86400")
    return seconds
