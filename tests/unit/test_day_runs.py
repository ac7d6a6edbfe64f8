"""DayRuns (the dosing record's days as runs): the same answers as a plain set of days."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from domain.patient.dosing_record import DayRuns

DAY0 = dt.date(2026, 3, 2)
OFFSETS = st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=120)


@given(OFFSETS)
def test_adding_and_removing_days_answers_as_a_set_does(steps: list[tuple[bool, int]]) -> None:
    runs, days = DayRuns(), set[dt.date]()
    for add, offset in steps:
        day = DAY0 + dt.timedelta(days=offset)
        if add:
            runs.add(day)
            days.add(day)
        else:
            runs.remove(day)
            days.discard(day)
        assert list(runs) == sorted(days)
        assert len(runs) == len(days)
        assert (runs.first, runs.last) == ((min(days), max(days)) if days else (None, None))
        # Runs are disjoint, ordered and never touch (adjacent days share one run).
        for (_, last), (first, _) in zip(runs.runs, runs.runs[1:], strict=False):
            assert first > last + dt.timedelta(days=1)
    for offset in range(62):
        day = DAY0 + dt.timedelta(days=offset)
        assert (day in runs) == (day in days)


def test_a_year_of_daily_doses_is_one_run() -> None:
    runs = DayRuns()
    for offset in range(365):
        runs.add(DAY0 + dt.timedelta(days=offset))
    assert runs.runs == [[DAY0, DAY0 + dt.timedelta(days=364)]] and len(runs) == 365
