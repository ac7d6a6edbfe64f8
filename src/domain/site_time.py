"""Sites' calendars (domain.md §6, §7a): IANA time zones, the site's today, start of a site day.

A clinical date is a date on the site's calendar. Reminders fall due at the *start* of a site
day (00:00 in the site's zone), as an instant in UTC. Date arithmetic here never raises
``OverflowError``: a stored date near ``date.max`` (which no guard should let in, but an old
store may hold) gives ``date.max`` / ``datetime.max`` instead, so read models keep working.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import CommandRefused, InvalidInput

DEFAULT_TIME_ZONE = "UTC"
ENROLMENT_LOOKBACK_DAYS = 730
"""An enrolment date may be up to 730 days (two years) before the site's today, no earlier:
sites enter enrolments after the visit, but not years later (that is a typing slip)."""
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name (cached); ``ValueError`` when there is none."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"'{name}' is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"'{name}' is not an IANA time zone (e.g. Europe/Paris)") from None


def is_time_zone(name: str) -> bool:
    """True when ``name`` is an IANA time zone this system knows."""
    try:
        zone(name)
    except ValueError:
        return False
    return True


def check_time_zone(name: str, *, field: str) -> str:
    """``name`` when it is an IANA time zone; else refused, naming the field."""
    try:
        zone(name)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None
    return name


def local_date(instant: dt.datetime, time_zone: str) -> dt.date:
    """The calendar date at a site when it is ``instant`` (naive instants are UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    try:
        return instant.astimezone(zone(time_zone)).date()
    except OverflowError:
        return dt.date.max if instant.year > 1 else dt.date.min


def plus_days(day: dt.date, days: int) -> dt.date:
    """``day + days``, held at ``date.max`` / ``date.min`` instead of overflowing."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def start_of_day(day: dt.date, time_zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    """The instant (UTC) a site day begins: 00:00 in the site's zone.

    Where midnight does not exist (a daylight-saving jump at 00:00) it is the first instant
    of the day. Beyond the representable range it is ``datetime.max`` / ``datetime.min``.
    """
    local = dt.datetime(day.year, day.month, day.day, tzinfo=zone(time_zone))
    try:
        return local.astimezone(dt.UTC)
    except OverflowError:
        return LATEST if day.year > 1 else EARLIEST


def start_of_day_after(last_day: dt.date, time_zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    """When a window whose last permitted day is ``last_day`` has passed, at the site."""
    if last_day == dt.date.max:
        return LATEST
    return start_of_day(last_day + dt.timedelta(days=1), time_zone)


def check_enrolment_date(enrolment_date: dt.date, today: dt.date, time_zone: str) -> None:
    """Refuse an enrolment date after the site's today, or more than two years before it."""
    if enrolment_date > today:
        raise CommandRefused(
            f"enrolment_date {enrolment_date} is after the site's today ({today} in "
            f"{time_zone}); it must be on or before {today}",
            rule="enrolment_date_in_future",
            field="enrolment_date",
        )
    earliest = plus_days(today, -ENROLMENT_LOOKBACK_DAYS)
    if enrolment_date < earliest:
        raise CommandRefused(
            f"enrolment_date {enrolment_date} is more than {ENROLMENT_LOOKBACK_DAYS} days "
            f"before the site's today ({today} in {time_zone}); it must be on or after {earliest}",
            rule="enrolment_date_too_old",
            field="enrolment_date",
        )
