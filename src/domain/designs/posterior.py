"""The Beta-binomial posterior of one dose's DLT probability, computed exactly.

With a Beta(1, 1) prior, ``x`` DLTs in ``n`` patients give a Beta(1 + x, 1 + n - x) posterior.
For whole-number parameters the Beta CDF is a binomial tail (I_p(a, b) = P(Bin(a + b - 1, p) >= a)),
so no special-function library is needed: the sums below are exact up to float rounding.
"""

from __future__ import annotations

import math

__all__ = ["beta_cdf", "elimination_threshold", "prob_above"]

MIN_PATIENTS_TO_ELIMINATE = 3
"""R ``BOIN``: a dose is eliminated only once it has at least 3 patients."""


def _binomial_at_most(k: int, trials: int, p: float) -> float:
    if k < 0:
        return 0.0
    if k >= trials:
        return 1.0
    return math.fsum(math.comb(trials, i) * p**i * (1.0 - p) ** (trials - i) for i in range(k + 1))


def beta_cdf(x: float, a: int, b: int) -> float:
    """P(X <= x) for X ~ Beta(a, b) with whole-number a, b >= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    # I_x(a, b) = P(Bin(a + b - 1, x) >= a) = 1 - P(Bin(a + b - 1, x) <= a - 1).
    return 1.0 - _binomial_at_most(a - 1, a + b - 1, x)


def prob_above(threshold: float, patients: int, dlts: int) -> float:
    """Posterior P(p > threshold) after ``dlts`` DLTs in ``patients``, Beta(1, 1) prior."""
    # 1 - I_t(1 + x, 1 + n - x) = P(Bin(n + 1, t) <= x): one sum, no cancellation.
    return _binomial_at_most(dlts, patients + 1, threshold)


def elimination_threshold(target: float, patients: int, cutoff: float) -> int | None:
    """The fewest DLTs in ``patients`` that eliminate a dose: P(p > target | data) > cutoff.

    None below 3 patients, or when no count of DLTs is enough (as R ``BOIN::get.boundary``).
    """
    if patients < MIN_PATIENTS_TO_ELIMINATE:
        return None
    for dlts in range(1, patients + 1):
        if prob_above(target, patients, dlts) > cutoff:
            return dlts
    return None
