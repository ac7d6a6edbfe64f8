"""Operating characteristics of the 3+3 design for assumed true DLT probabilities.

Both the exact enumeration and the simulation take every decision through
:func:`domain.designs.three_plus_three.recommend`, so they cannot drift from the engine.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domain.designs.three_plus_three import COHORT_SIZE, PatientOutcome, recommend
from domain.errors import InvalidInput

__all__ = [
    "LevelCharacteristics",
    "OperatingCharacteristics",
    "Tally",
    "checked_runs",
    "checked_true_tox",
    "exact",
    "parse_true_tox",
    "simulate",
]


@dataclass(frozen=True, slots=True)
class LevelCharacteristics:
    """How often a level is selected as MTD, and how many patients and DLTs it sees on average."""

    level: int
    p_select: float
    expected_patients: float
    expected_dlts: float


@dataclass(frozen=True, slots=True)
class OperatingCharacteristics:
    """Per-level characteristics plus the chance of selecting no level and the mean trial size."""

    levels: tuple[LevelCharacteristics, ...]
    p_no_mtd: float
    expected_sample_size: float

    def as_json(self) -> dict[str, object]:
        """Return a JSON-ready dict of the characteristics."""
        return {
            "levels": [
                {
                    "level": lc.level,
                    "p_select": lc.p_select,
                    "expected_patients": lc.expected_patients,
                    "expected_dlts": lc.expected_dlts,
                }
                for lc in self.levels
            ],
            "p_no_mtd": self.p_no_mtd,
            "expected_sample_size": self.expected_sample_size,
        }


def parse_true_tox(text: str) -> tuple[float, ...]:
    """Parse comma-separated true DLT probabilities such as ``"0.05,0.10,0.20"``."""
    if not text.strip():
        raise InvalidInput(
            "true toxicities: none given; write one probability per dose level, e.g. '0.05,0.1'",
            field="true_tox",
        )
    values: list[float] = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            raise InvalidInput(
                f"true toxicities: item {position} is empty; separate probabilities with commas",
                field="true_tox",
            )
        try:
            value = float(item)
        except ValueError:
            raise InvalidInput(
                f"true toxicities: item {position} '{item}' is not a number",
                field="true_tox",
            ) from None
        values.append(value)
    return checked_true_tox(values)


def checked_true_tox(true_tox: Sequence[float]) -> tuple[float, ...]:
    """Refuse an empty list or a value outside [0, 1]; return the probabilities as floats."""
    if len(true_tox) == 0:
        raise InvalidInput(
            "true toxicities: none given; need one probability per dose level",
            field="true_tox",
        )
    for level, p in enumerate(true_tox, start=1):
        # Written so that NaN fails too.
        if not 0.0 <= p <= 1.0:
            raise InvalidInput(
                f"true toxicities: level {level} has {p}; a probability must be in [0, 1]",
                field="true_tox",
            )
    return tuple(float(p) for p in true_tox)


def checked_runs(runs: int) -> int:
    """Refuse a simulation of fewer than one trial."""
    if runs < 1:
        raise InvalidInput(f"runs is {runs}; simulate at least one trial", field="runs")
    return runs


class Tally:
    """Sums of weighted trial outcomes, turned into characteristics at the end."""

    def __init__(self, num_doses: int) -> None:
        self.p_select = [0.0] * (num_doses + 1)
        self.p_no_mtd = 0.0
        self.patients = [0.0] * (num_doses + 1)
        self.dlts = [0.0] * (num_doses + 1)

    def add(self, weight: float, mtd: int | None, n: Sequence[int], tox: Sequence[int]) -> None:
        """Add one trial's outcome (counts indexed by level; index 0 unused) with its weight."""
        if mtd is None:
            self.p_no_mtd += weight
        else:
            self.p_select[mtd] += weight
        for level in range(1, len(self.patients)):
            self.patients[level] += weight * n[level]
            self.dlts[level] += weight * tox[level]

    def result(self, scale: float) -> OperatingCharacteristics:
        """The characteristics, every sum multiplied by ``scale``."""
        levels = tuple(
            LevelCharacteristics(
                level=level,
                p_select=self.p_select[level] * scale,
                expected_patients=self.patients[level] * scale,
                expected_dlts=self.dlts[level] * scale,
            )
            for level in range(1, len(self.patients))
        )
        return OperatingCharacteristics(
            levels=levels,
            p_no_mtd=self.p_no_mtd * scale,
            expected_sample_size=math.fsum(self.patients) * scale,
        )


# (patients per level, DLTs per level, level of the last patient); index 0 unused, 0 = none yet.
_State = tuple[tuple[int, ...], tuple[int, ...], int]


def _representative_path(state: _State) -> tuple[PatientOutcome, ...]:
    # The engine depends only on the counts and the last patient's level, so any order of the
    # patients with those counts, ending at the last level, stands for every path reaching state.
    n, tox, last = state
    order = [level for level in range(1, len(n)) if level != last] + ([last] if last else [])
    path: list[PatientOutcome] = []
    for level in order:
        path.extend(PatientOutcome(level, True) for _ in range(tox[level]))
        path.extend(PatientOutcome(level, False) for _ in range(n[level] - tox[level]))
    return tuple(path)


def _bumped(counts: tuple[int, ...], level: int, by: int) -> tuple[int, ...]:
    return (*counts[:level], counts[level] + by, *counts[level + 1 :])


def _cohort_dlt_distribution(p: float) -> list[tuple[int, float]]:
    outcomes = [
        (k, math.comb(COHORT_SIZE, k) * p**k * (1.0 - p) ** (COHORT_SIZE - k))
        for k in range(COHORT_SIZE + 1)
    ]
    # Zero-probability branches (p = 0 or 1) cannot change any sum; pruning them keeps the
    # enumeration small for degenerate scenarios.
    return [(k, q) for k, q in outcomes if q > 0.0]


def exact(true_tox: Sequence[float], *, deescalate: bool) -> OperatingCharacteristics:
    """Compute operating characteristics exactly by enumerating every trial path."""
    probs = checked_true_tox(true_tox)
    num_doses = len(probs)
    per_cohort: list[list[tuple[int, float]]] = [[]]
    per_cohort += [_cohort_dlt_distribution(p) for p in probs]
    tally = Tally(num_doses)
    zeros = (0,) * (num_doses + 1)
    # The engine only changes level once a cohort of 3 is complete (it says "enrol" in between),
    # so stepping cohort by cohort with Binomial(3, p) DLT counts is exact. Every state in a
    # frontier has the same number of patients, so paths that meet in a state are merged there.
    frontier: dict[_State, float] = {(zeros, zeros, 0): 1.0}
    while frontier:
        following: defaultdict[_State, float] = defaultdict(float)
        for state, weight in frontier.items():
            n, tox, _ = state
            decision = recommend(_representative_path(state), num_doses, deescalate=deescalate)
            if decision.next_dose is None:
                tally.add(weight, decision.mtd, n, tox)
                continue
            level = decision.next_dose
            n_after = _bumped(n, level, COHORT_SIZE)
            for dlts, q in per_cohort[level]:
                tox_after = _bumped(tox, level, dlts)
                following[(n_after, tox_after, level)] += weight * q
        frontier = following
    return tally.result(1.0)


def simulate(
    true_tox: Sequence[float],
    *,
    deescalate: bool,
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> OperatingCharacteristics:
    """Estimate operating characteristics from ``runs`` simulated trials, patient by patient."""
    probs = checked_true_tox(true_tox)
    checked_runs(runs)
    num_doses = len(probs)
    rng = random.Random(seed)
    tally = Tally(num_doses)
    for _ in range(runs):
        path: list[PatientOutcome] = []
        n = [0] * (num_doses + 1)
        tox = [0] * (num_doses + 1)
        while True:
            decision = recommend(path, num_doses, deescalate=deescalate)
            if decision.next_dose is None:
                break
            level = decision.next_dose
            dlt = rng.random() < probs[level - 1]
            path.append(PatientOutcome(level, dlt))
            n[level] += 1
            tox[level] += dlt
        tally.add(1.0, decision.mtd, n, tox)
        if progress is not None:
            progress(1)
    return tally.result(1.0 / runs)
