"""The DLT window's dose share (``domain.patient.dlt_window.dose_share``) against its
definition, day by day: the schedule's dosing days of the window, those inside a hold, and
those recorded as missed that no hold covers."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from domain.patient.dlt_window import DoseShare, dose_share, is_dosing_day
from domain.patient.requirements import HoldPeriod
from domain.protocol import Schedule

FIRST_DOSE = dt.date(2026, 3, 2)


def by_definition(
    schedule: Schedule,
    first_dose: dt.date,
    window_days: int,
    holds: list[HoldPeriod],
    missed: list[dt.date],
) -> DoseShare:
    days = (first_dose + dt.timedelta(days=i) for i in range(window_days))
    planned = {d for d in days if is_dosing_day(schedule, first_dose, d)}
    withheld = {d for d in planned if any(h.covers(d) for h in holds)}
    missed_days = (set(missed) & planned) - withheld
    return DoseShare(len(planned), len(withheld), len(missed_days))


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    cycle = draw(st.integers(1, 42))
    on = draw(st.integers(1, cycle))
    return Schedule(cycle_length_days=cycle, days_on=on, days_off=cycle - on)


def days_around(span: int = 90) -> st.SearchStrategy[dt.date]:
    """Dates from before the first dose to after any window drawn here."""
    return st.integers(-20, span).map(lambda n: FIRST_DOSE + dt.timedelta(days=n))


@st.composite
def holds(draw: st.DrawFn) -> HoldPeriod:
    start = draw(days_around())
    length = draw(st.none() | st.integers(-3, 60))  # None: still withheld; <= 0: empty
    end = None if length is None else start + dt.timedelta(days=length)
    return HoldPeriod(start=start, end=end, reason="AE")


@given(
    schedule=schedules(),
    window_days=st.integers(-2, 70),
    held=st.lists(holds(), max_size=4),
    missed=st.lists(days_around(), max_size=12),
)
def test_the_dose_share_is_its_day_by_day_definition(
    schedule: Schedule,
    window_days: int,
    held: list[HoldPeriod],
    missed: list[dt.date],
) -> None:
    assert dose_share(schedule, FIRST_DOSE, window_days, held, missed) == by_definition(
        schedule, FIRST_DOSE, window_days, held, missed
    )


def test_a_hold_and_a_missed_day_of_the_same_day_count_once_as_withheld() -> None:
    schedule = Schedule(cycle_length_days=28, days_on=21, days_off=7)
    held = [HoldPeriod(start=FIRST_DOSE + dt.timedelta(days=3), end=FIRST_DOSE + dt.timedelta(5))]
    missed = [FIRST_DOSE + dt.timedelta(days=4), FIRST_DOSE + dt.timedelta(days=10)]
    # 21 planned days; days 4-5 withheld; day 11 missed (day 5's miss is inside the hold);
    # day 23 is an off day of the cycle and counts for nothing.
    share = dose_share(schedule, FIRST_DOSE, 28, held, [*missed, FIRST_DOSE + dt.timedelta(22)])
    assert share == DoseShare(planned=21, withheld=2, missed=1)
    assert share.taken == 18
