"""Isotonic estimates of DLT rates and the dose closest to the target, as R ``BOIN::select.mtd``.

The observed rates are smoothed as (x + 0.05) / (n + 0.1) (a Beta(0.05, 0.05) posterior mean),
weighted by the inverse of that posterior's variance, and made non-decreasing in dose by the
pool-adjacent-violators algorithm. Ties are broken as BOIN breaks them: a tiny increasing offset
makes equal estimates below the target favour the higher dose and those above it the lower one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["closest_to_target", "isotonic_rates", "pava"]

_TIE_BREAK = 1e-10  # select.mtd: phat + (1:length(phat)) * 1e-10


def pava(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) regression by pooling adjacent violators.

    Pools the first violating pair's blocks, one pair at a time, as R ``BOIN``'s ``pava``
    does, so that the float results agree with it.
    """
    if len(values) != len(weights):
        raise ValueError("pava: values and weights differ in length")
    fitted = [float(v) for v in values]
    blocks = list(range(len(fitted)))
    while True:
        violation = next((i for i in range(len(fitted) - 1) if fitted[i + 1] < fitted[i]), None)
        if violation is None:
            return fitted
        left, right = blocks[violation], blocks[violation + 1]
        members = [i for i, b in enumerate(blocks) if b in (left, right)]
        pooled = math.fsum(fitted[i] * weights[i] for i in members) / math.fsum(
            weights[i] for i in members
        )
        for i in members:
            fitted[i] = pooled
            blocks[i] = left


def isotonic_rates(patients: Sequence[int], dlts: Sequence[int]) -> list[float]:
    """Isotonic DLT-rate estimates at doses that were given (every ``patients`` entry > 0)."""
    rates = [(x + 0.05) / (n + 0.1) for n, x in zip(patients, dlts, strict=True)]
    variances = [
        (x + 0.05) * (n - x + 0.05) / ((n + 0.1) ** 2 * (n + 0.1 + 1))
        for n, x in zip(patients, dlts, strict=True)
    ]
    return pava(rates, [1.0 / v for v in variances])


def closest_to_target(target: float, estimates: Sequence[float]) -> int:
    """The index of the estimate closest to ``target``, ties as R ``BOIN::select.mtd``."""
    if not estimates:
        raise ValueError("closest_to_target: no estimates")
    distances = [
        abs(estimate + (index + 1) * _TIE_BREAK - target)
        for index, estimate in enumerate(estimates)
    ]
    # min() keeps the first of equal distances, as R's stable sort(..., index.return = TRUE).
    return min(range(len(distances)), key=distances.__getitem__)
