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
    """Count the window's planned dosing days, and those withheld or recorded as missed."""
    holds = list(holds)
    days = (first_dose + dt.timedelta(days=i) for i in range(window_days))
    planned = {d for d in days if is_dosing_day(schedule, first_dose, d)}
    withheld = {d for d in planned if any(h.covers(d) for h in holds)}
    missed_days = (set(missed) & planned) - withheld
    return DoseShare(len(planned), len(withheld), len(missed_days))
