"""Counts over a trial's cohorts by dose level: the bookkeeping the 3+3 rules and the SRC read.

A level can hold several cohorts (an expansion, a return after a de-escalation); its patients
and DLTs are counted over all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.cohort import Cohort


def patients_at(cohorts: Sequence[Cohort], level: int) -> int:
    """Active patients treated at a dose level, over all cohorts."""
    return sum(len(c.active) for c in cohorts if c.level == level)


def dlts_at(cohorts: Sequence[Cohort], level: int) -> int:
    """DLTs observed at a dose level, over all cohorts."""
    return sum(c.dlts for c in cohorts if c.level == level)


def lowest_exceeded_level(cohorts: Sequence[Cohort]) -> int | None:
    """The lowest dose level where the MTD was exceeded (2 DLTs or more), if any."""
    levels = sorted({c.level for c in cohorts})
    return next((level for level in levels if dlts_at(cohorts, level) >= 2), None)
