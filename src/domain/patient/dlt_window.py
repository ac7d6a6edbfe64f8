"""The DLT window and evaluability (domain.md §6), as pure functions of the dosing record.

Day conventions, one everywhere: day 1 is the first dose; an N-day window is days 1..N; "no
DLT" may be recorded from day N (the end-of-window visit). The share of planned doses is
computed from what was recorded: the schedule's dosing days inside the window, less the days
withheld and the days recorded as missed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from domain.patient.requirements import HoldPeriod
from domain.protocol import Schedule

_ONE_DAY = dt.timedelta(days=1)


def study_day(first_dose: dt.date, day: dt.date) -> int:
    """The study day of a date (day 1 is the first dose; the day before it is day 0)."""
    return (day - first_dose).days + 1


def window_last_day(first_dose: dt.date, window_days: int) -> dt.date:
    """The last day of the DLT window."""
    return first_dose + dt.timedelta(days=window_days - 1)


def in_window(first_dose: dt.date | None, window_days: int, day: dt.date) -> bool:
    """True when ``day`` is one of the window's days."""
    if first_dose is None:
        return False
    return first_dose <= day <= window_last_day(first_dose, window_days)


def is_dosing_day(schedule: Schedule, first_dose: dt.date, day: dt.date) -> bool:
    """True when the schedule plans a dose on ``day`` (the off days of each cycle plan none)."""
    offset = (day - first_dose).days
    return offset >= 0 and offset % schedule.cycle_length_days < schedule.days_on


@dataclass(frozen=True, slots=True)
class DoseShare:
    """Planned, withheld and missed dosing days of the DLT window, and the share taken."""

    planned: int
    withheld: int
    missed: int

    @property
    def taken(self) -> int:
        """Planned dosing days neither withheld nor missed."""
        return max(0, self.planned - self.withheld - self.missed)

    @property
    def fraction(self) -> float:
        """The share of planned doses taken (1.0 when none was planned)."""
        return 1.0 if self.planned == 0 else self.taken / self.planned

    def agrees_with(self, claimed: float) -> bool:
        """True when a claimed fraction is this one, to within one planned dose."""
        tolerance = 1.0 / max(self.planned, 1)
        return abs(claimed - self.fraction) < tolerance - 1e-9 or claimed == self.fraction


def dose_share(
    schedule: Schedule,
    first_dose: dt.date,
    window_days: int,
    holds: Iterable[HoldPeriod],
    missed: Iterable[dt.date],
) -> DoseShare:
    """Count the window's planned dosing days, and those withheld or recorded as missed.

    The planned days are counted from the schedule's cycles, and only the days of the holds and
    the missed days are looked at, not every day of the window: every DLT outcome asks
    (docs/benchmarks.md). ``tests/unit/test_dose_share.py`` checks it against the day-by-day
    definition."""
    if window_days <= 0:
        return DoseShare(0, 0, 0)
    cycles, rest = divmod(window_days, schedule.cycle_length_days)
    planned = cycles * schedule.days_on + min(rest, schedule.days_on)  # days_on <= the cycle
    end = first_dose + dt.timedelta(days=window_days)  # the day after the window
    withheld: set[dt.date] = set()
    for hold in holds:
        day = max(hold.start, first_dose)
        last = end if hold.end is None else min(hold.end, end)
        while day < last:
            if is_dosing_day(schedule, first_dose, day):
                withheld.add(day)
            day += _ONE_DAY
    missed_days = {
        d
        for d in missed
        if in_window(first_dose, window_days, d) and is_dosing_day(schedule, first_dose, d)
    }
    return DoseShare(planned, len(withheld), len(missed_days - withheld))
