"""Site-local days (domain.md §6, §7a) as properties: window edges in every UTC offset, the eye
exam window around a cycle's end, and date arithmetic that never overflows."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from domain.reminder_schedule import exam_cycle
from domain.site_time import (
    LATEST,
    local_date,
    plus_days,
    start_of_day,
    start_of_day_after,
)

# Fixed offsets -12..+14 (POSIX sign: Etc/GMT+12 is UTC-12), and zones with daylight saving.
OFFSET_ZONES = [f"Etc/GMT{-h:+d}" if h else "Etc/GMT" for h in range(-12, 15)]
ZONES = st.sampled_from(
    [*OFFSET_ZONES, "America/Los_Angeles", "Europe/Paris", "Pacific/Kiritimati", "Asia/Kolkata"]
)
DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))


@given(first_dose=DAYS, zone=ZONES)
def test_the_dlt_window_end_is_due_at_the_start_of_day_29_at_the_site(
    first_dose: dt.date, zone: str
) -> None:
    day_28 = plus_days(first_dose, 27)
    due = start_of_day_after(day_28, zone)
    assert local_date(due, zone) == plus_days(first_dose, 28)  # day 29
    assert local_date(due - dt.timedelta(microseconds=1), zone) == day_28
    assert due.utcoffset() == dt.timedelta(0)


@given(hold_day=DAYS, zone=ZONES)
def test_the_cpk_expiry_is_due_at_the_start_of_day_22_after_the_hold(
    hold_day: dt.date, zone: str
) -> None:
    deadline = plus_days(hold_day, 21)  # day 21: recovery still in time
    due = start_of_day_after(deadline, zone)
    assert local_date(due, zone) == plus_days(hold_day, 22)
    assert local_date(due - dt.timedelta(microseconds=1), zone) == deadline


def test_utc_offsets_cover_minus_12_to_plus_14() -> None:
    midnight_utc = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    hours = {
        (start_of_day(midnight_utc.date(), z) - midnight_utc) // dt.timedelta(hours=1)
        for z in OFFSET_ZONES
    }
    assert hours == set(range(-14, 13))  # 00:00 at UTC+h is h hours before 00:00 UTC


@given(day=st.dates(), days=st.integers(-(10**6), 10**6), zone=ZONES)
def test_site_date_arithmetic_never_overflows(day: dt.date, days: int, zone: str) -> None:
    later = plus_days(day, days)
    assert dt.date.min <= later <= dt.date.max
    start_of_day(later, zone)
    due = start_of_day_after(later, zone)
    local_date(due, zone)
    if later == dt.date.max:
        assert due == LATEST


@given(
    cycle=st.integers(15, 42),
    window=st.integers(0, 7),
    k=st.integers(1, 12),
    delta=st.integers(-7, 7),
)
def test_an_exam_within_the_window_of_a_cycles_end_counts_for_that_cycle(
    cycle: int, window: int, k: int, delta: int
) -> None:
    study_day = k * cycle + delta
    expected = k if abs(delta) <= window and study_day > 1 else None
    assert exam_cycle(study_day, cycle, window) == expected


@given(cycle=st.integers(1, 60), window=st.integers(0, 60))
def test_an_exam_on_day_1_counts_for_no_cycle(cycle: int, window: int) -> None:
    assert exam_cycle(1, cycle, window) is None


def test_28_day_cycles_exams_from_day_21_to_day_35_count_for_cycle_1() -> None:
    assert [exam_cycle(d, 28, 7) for d in (1, 14, 20, 21, 28, 35, 36, 48, 49, 63, 64)] == [
        None,
        None,
        None,
        1,
        1,
        1,
        None,
        None,
        2,
        2,
        None,
    ]
