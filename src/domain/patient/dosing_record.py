"""The dosing record (domain.md §5a): which days a dose may be recorded on, and when a dose given
against an open requirement is a protocol deviation."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field

from domain.errors import CommandRefused
from domain.patient.requirements import HoldPeriod, Requirement

_DAY = dt.timedelta(days=1)


@dataclass
class DayRuns:
    """A set of days kept as runs of consecutive days (``[[first, last], ...]`` in order), so
    that a patient dosed every day for years holds a few runs, not thousands of dates."""

    runs: list[list[dt.date]] = field(default_factory=list)

    def _index(self, day: dt.date) -> int:
        """The index of the last run starting on or before ``day`` (-1 if none)."""
        return bisect_right([run[0] for run in self.runs], day) - 1

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, dt.date):
            return False
        i = self._index(day)
        return i >= 0 and day <= self.runs[i][1]

    def __len__(self) -> int:
        return sum((last - first).days + 1 for first, last in self.runs)

    def __iter__(self) -> Iterator[dt.date]:
        for first, last in self.runs:
            for offset in range((last - first).days + 1):
                yield first + offset * _DAY

    @property
    def first(self) -> dt.date | None:
        """The earliest day, if any."""
        return self.runs[0][0] if self.runs else None

    @property
    def last(self) -> dt.date | None:
        """The latest day, if any."""
        return self.runs[-1][1] if self.runs else None

    def add(self, day: dt.date) -> None:
        """Add a day (joining the runs it touches)."""
        if day in self:
            return
        i = self._index(day)
        joins_before = i >= 0 and self.runs[i][1] + _DAY == day
        joins_after = i + 1 < len(self.runs) and self.runs[i + 1][0] - _DAY == day
        if joins_before and joins_after:
            self.runs[i][1] = self.runs[i + 1][1]
            del self.runs[i + 1]
        elif joins_before:
            self.runs[i][1] = day
        elif joins_after:
            self.runs[i + 1][0] = day
        else:
            self.runs.insert(i + 1, [day, day])

    def remove(self, day: dt.date) -> None:
        """Remove a day (splitting its run); a day not in the set is ignored."""
        if day not in self:
            return
        i = self._index(day)
        first, last = self.runs[i]
        replacement = [run for run in ([first, day - _DAY], [day + _DAY, last]) if run[0] <= run[1]]
        self.runs[i : i + 1] = replacement


def check_dose_day(
    subject_id: str, day: dt.date, dose_days: Container[dt.date], holds: Sequence[HoldPeriod]
) -> None:
    """One dose record a day, and none on a day inside a hold, past or open."""
    if day in dose_days:
        raise CommandRefused(
            f"a dose is already recorded for subject {subject_id} on {day}",
            rule="dose_already_recorded",
            field="clinical_date",
        )
    for period in holds:
        if period.covers(day):
            until = "now" if period.end is None else f"the resume on {period.end}"
            raise CommandRefused(
                f"dosing of subject {subject_id} was withheld from {period.start} to {until}; "
                f"no dose can be recorded on {day}",
                rule="dose_withheld",
                field="clinical_date",
            )


def check_deviation(
    subject_id: str, blocking: Sequence[Requirement], deviation_reason: str
) -> bool:
    """True when the dose is a deviation (an open withhold or discontinue requirement, and a
    reason given); refused when one of the two is missing."""
    if blocking and not deviation_reason.strip():
        what = "; ".join(f"{r.action} (rule {r.rule}, AE {r.ae_id})" for r in blocking)
        raise CommandRefused(
            f"subject {subject_id} has open requirements: {what}; a dose now is a protocol "
            "deviation: record it as one, with a reason",
            rule="dose_against_requirement",
        )
    if not blocking and deviation_reason.strip():
        raise CommandRefused(
            "no open withhold or discontinue requirement: this dose is not a deviation",
            rule="not_a_deviation",
            field="reason",
        )
    return bool(blocking)
