"""Operating characteristics of BOIN, i3+3 and mTPI-2: exact, and simulated.

Both take every decision through :func:`domain.designs.interval_designs.decide`, so they cannot
drift from the engine, and answer in the 3+3's :class:`OperatingCharacteristics` shape.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence

from domain.designs.interval_designs import IntervalDesign, decide
from domain.designs.operating_characteristics import (
    OperatingCharacteristics,
    Tally,
    checked_runs,
    checked_true_tox,
)
from domain.errors import InvalidInput

__all__ = ["MAX_EXACT_COHORTS", "exact", "simulate"]

MAX_EXACT_COHORTS = 12
"""The exact computation walks every reachable state; beyond 12 cohorts it gets slow."""

# (patients per level, DLTs per level, level of the last cohort); index 0 is level 1.
_State = tuple[tuple[int, ...], tuple[int, ...], int | None]


def _cohort_dlt_distribution(p: float, size: int) -> list[tuple[int, float]]:
    outcomes = [(k, math.comb(size, k) * p**k * (1.0 - p) ** (size - k)) for k in range(size + 1)]
    # Zero-probability branches (p = 0 or 1) cannot change any sum.
    return [(k, q) for k, q in outcomes if q > 0.0]


def _bumped(counts: tuple[int, ...], index: int, by: int) -> tuple[int, ...]:
    return (*counts[:index], counts[index] + by, *counts[index + 1 :])


def _tally_add(
    tally: Tally, weight: float, mtd: int | None, n: Sequence[int], tox: Sequence[int]
) -> None:
    # Tally indexes counts by level with an unused slot 0.
    tally.add(weight, mtd, (0, *n), (0, *tox))


def exact(design: IntervalDesign, true_tox: Sequence[float]) -> OperatingCharacteristics:
    """Compute operating characteristics exactly, by dynamic programming over trial states.

    The design acts only on whole cohorts and its decision depends only on the counts per
    level and the current level, so the trial is a Markov chain on those states: each frontier
    (every state with the same number of patients) is stepped by one Binomial(cohort, p)
    cohort, merging the paths that meet in a state.
    """
    probs = checked_true_tox(true_tox)
    cohorts = math.ceil(design.max_n / design.cohort_size)
    if cohorts > MAX_EXACT_COHORTS:
        raise InvalidInput(
            f"max_n is {design.max_n}: {cohorts} cohorts of {design.cohort_size}; the exact "
            f"computation goes up to {MAX_EXACT_COHORTS} cohorts (simulate beyond that)",
            field="max_n",
        )
    num_doses = len(probs)
    tally = Tally(num_doses)
    zeros = (0,) * num_doses
    frontier: dict[_State, float] = {(zeros, zeros, None): 1.0}
    while frontier:
        following: defaultdict[_State, float] = defaultdict(float)
        for (n, tox, last), weight in frontier.items():
            decision = decide(design, n, tox, last)
            if decision.next_dose is None:
                _tally_add(tally, weight, decision.mtd, n, tox)
                continue
            index = decision.next_dose - 1
            size = design.cohort_size
            n_after = _bumped(n, index, size)
            for dlts, q in _cohort_dlt_distribution(probs[index], size):
                following[(n_after, _bumped(tox, index, dlts), decision.next_dose)] += weight * q
        frontier = following
    return tally.result(1.0)


def simulate(
    design: IntervalDesign,
    true_tox: Sequence[float],
    *,
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> OperatingCharacteristics:
    """Estimate operating characteristics from ``runs`` simulated trials, cohort by cohort."""
    probs = checked_true_tox(true_tox)
    checked_runs(runs)
    num_doses = len(probs)
    rng = random.Random(seed)
    tally = Tally(num_doses)
    for _ in range(runs):
        n = [0] * num_doses
        tox = [0] * num_doses
        last: int | None = None
        while True:
            decision = decide(design, n, tox, last)
            if decision.next_dose is None:
                break
            last = decision.next_dose
            size = design.cohort_size
            n[last - 1] += size
            tox[last - 1] += sum(rng.random() < probs[last - 1] for _ in range(size))
        _tally_add(tally, 1.0, decision.mtd, n, tox)
        if progress is not None:
            progress(1)
    return tally.result(1.0 / runs)
