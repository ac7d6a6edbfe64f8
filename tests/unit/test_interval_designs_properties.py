"""Properties of BOIN, i3+3 and mTPI-2 over generated designs and trials."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.designs.boin import boin_rule
from domain.designs.i3plus3 import i3plus3_rule
from domain.designs.interval_designs import (
    IntervalDesign,
    IntervalRecommendation,
    decide,
    eliminated_levels,
    recommend,
)
from domain.designs.isotonic import pava
from domain.designs.mtpi2 import mtpi2_rule
from domain.designs.posterior import beta_cdf, prob_above
from domain.designs.three_plus_three import PatientOutcome

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@st.composite
def designs(draw: st.DrawFn) -> IntervalDesign:
    target = draw(st.sampled_from([0.2, 0.25, 0.3, 0.33]))
    kind = draw(st.sampled_from(["boin", "i3+3", "mtpi2"]))
    rule = {
        "boin": lambda: boin_rule(target),
        "i3+3": lambda: i3plus3_rule(target),
        "mtpi2": lambda: mtpi2_rule(target),
    }[kind]()
    cohort_size = draw(st.integers(1, 4))
    return IntervalDesign(
        rule,
        cohort_size=cohort_size,
        max_n=cohort_size * draw(st.integers(1, 12)),
        n_earlystop=draw(st.sampled_from([6, 9, 12, 100])),
        extrasafe=draw(st.booleans()),
    )


def run_trial(
    design: IntervalDesign, num_doses: int, dlts: list[bool]
) -> tuple[list[PatientOutcome], list[IntervalRecommendation]]:
    """Enrol each patient where the engine says until it stops; DLTs come from ``dlts``."""
    path: list[PatientOutcome] = []
    decisions: list[IntervalRecommendation] = []
    for index in range(design.max_n + 1):
        decision = recommend(path, num_doses, design)
        decisions.append(decision)
        if decision.next_dose is None:
            break
        path.append(PatientOutcome(decision.next_dose, dlts[index % len(dlts)]))
    return path, decisions


trial_inputs = st.tuples(designs(), st.integers(1, 6), st.lists(st.booleans(), min_size=1))


@PROPERTY_SETTINGS
@given(trial_inputs)
def test_a_trial_never_goes_into_an_eliminated_dose_nor_above_the_top(
    inputs: tuple[IntervalDesign, int, list[bool]],
) -> None:
    design, num_doses, dlts = inputs
    path, decisions = run_trial(design, num_doses, dlts)
    assert decisions[-1].next_dose is None, "the trial stops by max_n at the latest"
    assert len(path) <= design.max_n
    last = None
    for decision in decisions[:-1]:
        assert decision.next_dose is not None
        assert 1 <= decision.next_dose <= num_doses
        assert decision.next_dose not in decision.eliminated
        if last is not None:
            assert decision.next_dose <= last + 1, "never skips a dose upwards"
        last = decision.next_dose
    # Eliminations only grow along the trial.
    for before, after in itertools.pairwise(decisions):
        assert set(before.eliminated) <= set(after.eliminated)


@PROPERTY_SETTINGS
@given(trial_inputs)
def test_the_selected_mtd_was_given_and_is_not_eliminated(
    inputs: tuple[IntervalDesign, int, list[bool]],
) -> None:
    design, num_doses, dlts = inputs
    path, decisions = run_trial(design, num_doses, dlts)
    final = decisions[-1]
    if final.mtd is not None:
        assert any(p.level == final.mtd for p in path)
        assert final.mtd not in final.eliminated
        assert final.action == "declare_mtd"
    else:
        assert final.action == "stop_no_mtd"


@st.composite
def states(draw: st.DrawFn) -> tuple[IntervalDesign, list[int], list[int], int]:
    design = draw(designs())
    num_doses = draw(st.integers(1, 6))
    cohorts = [draw(st.integers(0, 4)) for _ in range(num_doses)]
    patients = [c * design.cohort_size for c in cohorts]
    dlts = [draw(st.integers(0, n)) for n in patients]
    given = [level for level in range(1, num_doses + 1) if patients[level - 1]]
    assume(given)
    return design, patients, dlts, draw(st.sampled_from(given))


@PROPERTY_SETTINGS
@given(states(), st.data())
def test_the_decision_depends_only_on_the_current_dose_and_the_eliminations(
    state: tuple[IntervalDesign, list[int], list[int], int], data: st.DataObject
) -> None:
    design, patients, dlts, last = state
    design = replace(design, max_n=design.cohort_size * 1000)  # max_n must not bind here
    decision = decide(design, patients, dlts, last)
    # Change the counts at every other dose, keeping which doses are eliminated.
    other_patients, other_dlts = list(patients), list(dlts)
    for index in range(len(patients)):
        if index + 1 == last:
            continue
        n = data.draw(st.integers(0, 4)) * design.cohort_size
        other_patients[index], other_dlts[index] = n, data.draw(st.integers(0, n))
    eliminated = eliminated_levels(design, patients, dlts)
    assume(eliminated_levels(design, other_patients, other_dlts) == eliminated)
    other = decide(design, other_patients, other_dlts, last)
    if decision.continue_trial or other.continue_trial:
        assert other.next_dose == decision.next_dose
        assert other.action == decision.action


@PROPERTY_SETTINGS
@given(st.integers(0, 40), st.data(), st.floats(0.01, 0.99))
def test_prob_above_is_one_minus_the_beta_cdf(n: int, data: st.DataObject, t: float) -> None:
    x = data.draw(st.integers(0, n))
    assert math.isclose(prob_above(t, n, x), 1 - beta_cdf(t, 1 + x, 1 + n - x), abs_tol=1e-12)
    # More DLTs in the same patients: more likely above the threshold.
    if x < n:
        assert prob_above(t, n, x + 1) >= prob_above(t, n, x)


def test_beta_cdf_closed_forms() -> None:
    for x in (0.0, 0.1, 0.3, 0.75, 1.0):
        assert math.isclose(beta_cdf(x, 1, 1), x, abs_tol=1e-15)
        assert math.isclose(beta_cdf(x, 2, 1), x**2, abs_tol=1e-15)
        assert math.isclose(beta_cdf(x, 1, 2), 1 - (1 - x) ** 2, abs_tol=1e-15)
    # 1 - pbeta(0.3, 4, 1) = 1 - 0.3^4: 3/3 DLTs at a 0.3 target.
    assert math.isclose(prob_above(0.3, 3, 3), 1 - 0.3**4, abs_tol=1e-15)


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0.1, 100)), min_size=1, max_size=8))
def test_pava_is_non_decreasing_and_keeps_the_weighted_mean(
    pairs: list[tuple[float, float]],
) -> None:
    values, weights = [v for v, _ in pairs], [w for _, w in pairs]
    fitted = pava(values, weights)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(fitted))
    assert math.isclose(
        math.fsum(f * w for f, w in zip(fitted, weights, strict=True)),
        math.fsum(v * w for v, w in zip(values, weights, strict=True)),
        rel_tol=1e-9,
        abs_tol=1e-9,
    )
    if values == sorted(values):
        assert fitted == values


def test_pava_pools_adjacent_violators() -> None:
    assert pava([0.1, 0.3, 0.2], [1, 1, 1]) == [0.1, 0.25, 0.25]
    assert pava([0.4, 0.2, 0.0], [1, 1, 2]) == pytest.approx([0.15, 0.15, 0.15])
