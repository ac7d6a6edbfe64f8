"""Exact and simulated operating characteristics of BOIN, i3+3 and mTPI-2."""

from __future__ import annotations

import itertools
import math

import pytest

from domain.designs.boin import boin_rule
from domain.designs.i3plus3 import i3plus3_rule
from domain.designs.interval_designs import IntervalDesign, recommend
from domain.designs.interval_operating_characteristics import exact, simulate
from domain.designs.mtpi2 import mtpi2_rule
from domain.designs.operating_characteristics import (
    LevelCharacteristics,
    OperatingCharacteristics,
    Tally,
)
from domain.designs.three_plus_three import PatientOutcome
from domain.errors import InvalidInput

RULES = {
    "boin": boin_rule(0.3),
    "i3+3": i3plus3_rule(0.3, (0.25, 0.35)),
    "mtpi2": mtpi2_rule(0.3, 0.05, 0.05),
}
# R BOIN's get.oc example scenario (target 0.3, five doses).
SCENARIO = (0.05, 0.15, 0.3, 0.45, 0.6)


def total(oc: OperatingCharacteristics) -> float:
    return math.fsum([oc.p_no_mtd, *(lc.p_select for lc in oc.levels)])


@pytest.mark.parametrize("kind", sorted(RULES))
@pytest.mark.parametrize(
    "true_tox", [SCENARIO, (0.3,), (0.5, 0.4, 0.3), (0.0, 0.0, 1.0), (0.02, 0.08, 0.15, 0.25)]
)
def test_exact_is_a_distribution(kind: str, true_tox: tuple[float, ...]) -> None:
    design = IntervalDesign(RULES[kind], max_n=18)
    oc = exact(design, true_tox)
    assert abs(total(oc) - 1.0) < 1e-9
    assert oc.expected_sample_size <= 18 + 1e-9
    for lc in oc.levels:
        assert 0.0 <= lc.expected_dlts <= lc.expected_patients + 1e-12


@pytest.mark.parametrize("kind", sorted(RULES))
@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.6, 1.0])
def test_one_dose_one_cohort_by_hand(kind: str, p: float) -> None:
    # Three patients, then stop at max_n: no MTD only when 3/3 eliminate the dose.
    oc = exact(IntervalDesign(RULES[kind], max_n=3), [p])
    assert oc.levels[0].p_select == pytest.approx(1 - p**3, abs=1e-12)
    assert oc.levels[0].expected_patients == pytest.approx(3.0, abs=1e-12)
    assert oc.levels[0].expected_dlts == pytest.approx(3 * p, abs=1e-12)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_no_toxicity_climbs_to_the_top_and_selects_it(kind: str) -> None:
    oc = exact(IntervalDesign(RULES[kind], max_n=30), [0.0] * 4)
    assert oc.levels[-1].p_select == 1.0
    # 3 cohorts to climb, the other 7 at the top.
    assert [lc.expected_patients for lc in oc.levels] == [3.0, 3.0, 3.0, 21.0]


@pytest.mark.parametrize("kind", sorted(RULES))
def test_certain_toxicity_stops_after_one_cohort(kind: str) -> None:
    oc = exact(IntervalDesign(RULES[kind], max_n=30), [1.0] * 3)
    assert oc.p_no_mtd == 1.0
    assert oc.levels[0] == LevelCharacteristics(1, 0.0, 3.0, 3.0)


def _cohort_path_enumeration(
    design: IntervalDesign, true_tox: tuple[float, ...]
) -> OperatingCharacteristics:
    """Walk every sequence of cohorts through ``recommend`` on whole outcome paths."""
    num_doses = len(true_tox)
    tally = Tally(num_doses)

    def walk(path: tuple[PatientOutcome, ...], weight: float) -> None:
        decision = recommend(path, num_doses, design)
        if decision.next_dose is None:
            n, tox = [0] * (num_doses + 1), [0] * (num_doses + 1)
            for patient in path:
                n[patient.level] += 1
                tox[patient.level] += patient.dlt
            tally.add(weight, decision.mtd, n, tox)
            return
        level, p = decision.next_dose, true_tox[decision.next_dose - 1]
        for cohort in itertools.product((False, True), repeat=design.cohort_size):
            k = sum(cohort)
            q = p**k * (1 - p) ** (design.cohort_size - k)
            if q > 0:
                walk((*path, *(PatientOutcome(level, dlt) for dlt in cohort)), weight * q)

    walk((), 1.0)
    return tally.result(1.0)


def _figures(oc: OperatingCharacteristics) -> list[float]:
    per_level = [(lc.p_select, lc.expected_patients, lc.expected_dlts) for lc in oc.levels]
    return [oc.p_no_mtd, oc.expected_sample_size, *itertools.chain(*per_level)]


@pytest.mark.parametrize("kind", sorted(RULES))
def test_exact_matches_an_enumeration_of_every_path(kind: str) -> None:
    design = IntervalDesign(RULES[kind], max_n=12, n_earlystop=9)
    true_tox = (0.15, 0.35, 0.55)
    fast = exact(design, true_tox)
    slow = _cohort_path_enumeration(design, true_tox)
    assert _figures(fast) == pytest.approx(_figures(slow), abs=1e-12)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_simulation_agrees_with_exact(kind: str) -> None:
    # 20 000 trials: the standard error of a selection probability is at most 0.0036, of the
    # mean number of patients at a dose about 0.06; the tolerances are over 4 standard errors.
    design = IntervalDesign(RULES[kind], max_n=30, n_earlystop=12)
    truth = exact(design, SCENARIO)
    estimate = simulate(design, SCENARIO, runs=20_000, seed=20240607)
    assert abs(estimate.p_no_mtd - truth.p_no_mtd) < 0.015
    for want, got in zip(truth.levels, estimate.levels, strict=True):
        assert abs(got.p_select - want.p_select) < 0.015
        assert abs(got.expected_patients - want.expected_patients) < 0.25
        assert abs(got.expected_dlts - want.expected_dlts) < 0.1
    assert abs(estimate.expected_sample_size - truth.expected_sample_size) < 0.2
    assert abs(total(estimate) - 1.0) < 1e-9


def test_simulation_is_reproducible_and_reports_progress() -> None:
    design = IntervalDesign(RULES["boin"], max_n=18)
    ticks: list[int] = []
    first = simulate(design, SCENARIO, runs=200, seed=7, progress=ticks.append)
    assert first == simulate(design, SCENARIO, runs=200, seed=7)
    assert first != simulate(design, SCENARIO, runs=200, seed=8)
    assert ticks == [1] * 200


def test_n_earlystop_shortens_the_trial() -> None:
    long = exact(IntervalDesign(RULES["boin"], max_n=36), SCENARIO)
    short = exact(IntervalDesign(RULES["boin"], max_n=36, n_earlystop=12), SCENARIO)
    assert short.expected_sample_size < long.expected_sample_size - 5


def test_exact_refuses_more_than_12_cohorts_and_bad_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        exact(IntervalDesign(RULES["boin"], max_n=39), SCENARIO)
    assert caught.value.field == "max_n"
    with pytest.raises(InvalidInput) as caught:
        exact(IntervalDesign(RULES["boin"]), [1.5])
    assert caught.value.field == "true_tox"
    with pytest.raises(InvalidInput) as caught:
        simulate(IntervalDesign(RULES["boin"]), SCENARIO, runs=0, seed=1)
    assert caught.value.field == "runs"
