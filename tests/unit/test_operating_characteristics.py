"""Exact and simulated operating characteristics of the 3+3 design."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from domain.designs.operating_characteristics import (
    LevelCharacteristics,
    OperatingCharacteristics,
    exact,
    parse_true_tox,
    simulate,
)
from domain.designs.three_plus_three import PatientOutcome, recommend
from domain.errors import InvalidInput

SCENARIOS = [
    (0.3,),
    (0.05, 0.10, 0.20, 0.35),
    (0.1, 0.25, 0.4),
    (0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
    (0.5, 0.4, 0.3, 0.2),  # non-monotone on purpose: the engine must not care
    (0.0, 0.0, 1.0),
    (0.2, 1.0, 0.0),
]


def p_escalate(p: float) -> float:
    """P(leave a level upwards): 0/3, or 1/3 then 0/3 more."""
    return (1 - p) ** 3 + 3 * p * (1 - p) ** 2 * (1 - p) ** 3


def p_expand(p: float) -> float:
    return 3 * p * (1 - p) ** 2


def total(oc: OperatingCharacteristics) -> float:
    return math.fsum([oc.p_no_mtd, *(lc.p_select for lc in oc.levels)])


@pytest.mark.parametrize("deescalate", [False, True])
@pytest.mark.parametrize("true_tox", SCENARIOS)
def test_probabilities_sum_to_one(true_tox: tuple[float, ...], deescalate: bool) -> None:
    oc = exact(true_tox, deescalate=deescalate)
    assert abs(total(oc) - 1.0) < 1e-9
    assert [lc.level for lc in oc.levels] == list(range(1, len(true_tox) + 1))
    assert oc.expected_sample_size == pytest.approx(
        math.fsum(lc.expected_patients for lc in oc.levels), abs=1e-9
    )
    assert oc.expected_sample_size <= 6 * len(true_tox)
    for lc in oc.levels:
        assert 0.0 <= lc.p_select <= 1.0 + 1e-12
        assert 0.0 <= lc.expected_dlts <= lc.expected_patients <= 6.0 + 1e-9


@pytest.mark.parametrize("deescalate", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.9, 1.0])
def test_single_level_by_hand(p: float, deescalate: bool) -> None:
    oc = exact([p], deescalate=deescalate)
    (level,) = oc.levels
    select = (1 - p) ** 3 + 3 * p * (1 - p) ** 2 * (1 - p) ** 3
    assert level.p_select == pytest.approx(select, abs=1e-12)
    assert oc.p_no_mtd == pytest.approx(1 - select, abs=1e-12)
    # 3 patients, plus 3 more after exactly 1/3.
    assert level.expected_patients == pytest.approx(3 + 3 * p_expand(p), abs=1e-12)
    assert level.expected_dlts == pytest.approx(3 * p + 3 * p_expand(p) * p, abs=1e-12)


@pytest.mark.parametrize("deescalate", [False, True])
@pytest.mark.parametrize("num_doses", [1, 2, 4, 6])
def test_no_toxicity_selects_the_top_level(num_doses: int, deescalate: bool) -> None:
    oc = exact([0.0] * num_doses, deescalate=deescalate)
    assert oc.levels[-1].p_select == 1.0
    assert oc.p_no_mtd == 0.0
    assert oc.expected_sample_size == 3 * num_doses
    assert all(lc.expected_patients == 3 and lc.expected_dlts == 0 for lc in oc.levels)


@pytest.mark.parametrize("deescalate", [False, True])
@pytest.mark.parametrize("num_doses", [1, 3, 6])
def test_certain_toxicity_stops_after_the_first_cohort(num_doses: int, deescalate: bool) -> None:
    oc = exact([1.0] * num_doses, deescalate=deescalate)
    assert oc.p_no_mtd == 1.0
    assert oc.expected_sample_size == 3
    assert oc.levels[0] == LevelCharacteristics(1, 0.0, 3.0, 3.0)  # 3/3 DLTs at level 1
    assert all(lc == LevelCharacteristics(lc.level, 0.0, 0.0, 0.0) for lc in oc.levels[1:])


@pytest.mark.parametrize("true_tox", SCENARIOS)
def test_classic_matches_the_closed_form(true_tox: tuple[float, ...]) -> None:
    # Classic 3+3 never goes back: level k is selected when levels 1..k are passed and k+1 fails.
    oc = exact(true_tox, deescalate=False)
    reach = 1.0
    for k, lc in enumerate(oc.levels):
        p = true_tox[k]
        passed = p_escalate(p)
        assert lc.expected_patients == pytest.approx(reach * (3 + 3 * p_expand(p)), abs=1e-12)
        fails_above = 1.0 if k + 1 == len(true_tox) else 1 - p_escalate(true_tox[k + 1])
        assert lc.p_select == pytest.approx(reach * passed * fails_above, abs=1e-12)
        reach *= passed
    assert oc.p_no_mtd == pytest.approx(1 - p_escalate(true_tox[0]), abs=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_two_levels_second_certainly_toxic_by_hand(p: float) -> None:
    zero_of_3 = (1 - p) ** 3
    one_then_zero = p_expand(p) * (1 - p) ** 3
    at_most_one_of_3 = (1 - p) ** 3 + p_expand(p)
    classic = exact([p, 1.0], deescalate=False)
    korn = exact([p, 1.0], deescalate=True)
    # Classic: reaching level 2 means 3/3 DLTs there and MTD 1.
    assert classic.levels[0].p_select == pytest.approx(zero_of_3 + one_then_zero, abs=1e-12)
    # Korn: after 0/3 at level 1, it goes back to treat 3 more there and needs <=1 DLT of them.
    korn_select = zero_of_3 * at_most_one_of_3 + one_then_zero
    assert korn.levels[0].p_select == pytest.approx(korn_select, abs=1e-12)
    assert korn.p_no_mtd == pytest.approx(1 - korn_select, abs=1e-12)
    assert korn.levels[0].expected_patients == pytest.approx(
        classic.levels[0].expected_patients + 3 * zero_of_3, abs=1e-12
    )
    assert classic.levels[1].expected_patients == pytest.approx(
        korn.levels[1].expected_patients, abs=1e-12
    )
    assert korn.p_no_mtd > classic.p_no_mtd


def test_deescalation_changes_the_characteristics() -> None:
    true_tox = (0.05, 0.15, 0.45, 0.6)
    classic = exact(true_tox, deescalate=False)
    korn = exact(true_tox, deescalate=True)
    assert korn.expected_sample_size > classic.expected_sample_size
    assert korn.levels[1].expected_patients > classic.levels[1].expected_patients
    assert abs(korn.levels[1].p_select - classic.levels[1].p_select) > 0.01


def _patient_level_enumeration(
    true_tox: tuple[float, ...], deescalate: bool
) -> OperatingCharacteristics:
    """Walk every patient-by-patient path, independently of the cohort aggregation."""
    num_doses = len(true_tox)
    select = [0.0] * (num_doses + 1)
    patients = [0.0] * (num_doses + 1)
    dlts = [0.0] * (num_doses + 1)

    def walk(path: tuple[PatientOutcome, ...], weight: float) -> Iterator[None]:
        decision = recommend(path, num_doses, deescalate=deescalate)
        if decision.next_dose is None:
            select[decision.mtd or 0] += weight
            for patient in path:
                patients[patient.level] += weight
                dlts[patient.level] += weight * patient.dlt
            yield None
            return
        p = true_tox[decision.next_dose - 1]
        yield from walk((*path, PatientOutcome(decision.next_dose, True)), weight * p)
        yield from walk((*path, PatientOutcome(decision.next_dose, False)), weight * (1 - p))

    for _ in walk((), 1.0):
        pass
    return OperatingCharacteristics(
        levels=tuple(
            LevelCharacteristics(level, select[level], patients[level], dlts[level])
            for level in range(1, num_doses + 1)
        ),
        p_no_mtd=select[0],
        expected_sample_size=math.fsum(patients),
    )


@pytest.mark.parametrize("deescalate", [False, True])
@pytest.mark.parametrize("true_tox", [(0.1, 0.3, 0.5), (0.25, 0.2, 0.6)])
def test_exact_matches_a_patient_by_patient_enumeration(
    true_tox: tuple[float, ...], deescalate: bool
) -> None:
    fast = exact(true_tox, deescalate=deescalate).as_json()
    slow = _patient_level_enumeration(true_tox, deescalate).as_json()
    assert _close(fast, slow), (fast, slow)


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) < 1e-10
    return a == b


@pytest.mark.parametrize("deescalate", [False, True])
def test_simulation_agrees_with_exact(deescalate: bool) -> None:
    true_tox = (0.05, 0.15, 0.3, 0.45)
    truth = exact(true_tox, deescalate=deescalate)
    estimate = simulate(true_tox, deescalate=deescalate, runs=20_000, seed=20240607)
    assert abs(estimate.p_no_mtd - truth.p_no_mtd) < 0.02
    for want, got in zip(truth.levels, estimate.levels, strict=True):
        assert abs(got.p_select - want.p_select) < 0.02
        assert abs(got.expected_patients - want.expected_patients) < 0.1
        assert abs(got.expected_dlts - want.expected_dlts) < 0.05
    assert abs(estimate.expected_sample_size - truth.expected_sample_size) < 0.15
    assert abs(total(estimate) - 1.0) < 1e-9


def test_simulation_is_reproducible_and_reports_progress() -> None:
    ticks: list[int] = []
    first = simulate((0.1, 0.3, 0.5), deescalate=True, runs=300, seed=7, progress=ticks.append)
    again = simulate((0.1, 0.3, 0.5), deescalate=True, runs=300, seed=7)
    other = simulate((0.1, 0.3, 0.5), deescalate=True, runs=300, seed=8)
    assert first == again
    assert first.as_json() == again.as_json()
    assert first != other
    assert ticks == [1] * 300


def test_simulation_of_degenerate_scenarios_is_exact() -> None:
    assert simulate([0.0, 0.0], deescalate=False, runs=5, seed=1) == exact(
        [0.0, 0.0], deescalate=False
    )
    assert simulate([1.0, 1.0], deescalate=True, runs=5, seed=1) == exact(
        [1.0, 1.0], deescalate=True
    )


@pytest.mark.parametrize("runs", [0, -5])
def test_simulation_needs_at_least_one_run(runs: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        simulate([0.1], deescalate=False, runs=runs, seed=1)
    assert caught.value.field == "runs"


@pytest.mark.parametrize("true_tox", [[], [1.5], [0.1, -0.1], [math.nan], [math.inf]])
def test_bad_true_toxicities_are_refused(true_tox: list[float]) -> None:
    with pytest.raises(InvalidInput) as caught:
        exact(true_tox, deescalate=False)
    assert caught.value.field == "true_tox"
    with pytest.raises(InvalidInput) as caught:
        simulate(true_tox, deescalate=False, runs=10, seed=1)
    assert caught.value.field == "true_tox"


def test_parse_true_tox() -> None:
    assert parse_true_tox("0.05,0.10,0.20,0.35") == (0.05, 0.10, 0.20, 0.35)
    assert parse_true_tox(" 0 , 1 ") == (0.0, 1.0)
    assert parse_true_tox("0.3") == (0.3,)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "none given"),
        ("  ", "none given"),
        ("0.1,,0.2", "item 2 is empty"),
        ("0.1,", "item 2 is empty"),
        ("0.1,abc", "item 2 'abc' is not a number"),
        ("0.1;0.2", "is not a number"),
        ("1.5", "level 1 has 1.5"),
        ("0.2,-0.1", "level 2"),
        ("nan", "level 1"),
        ("inf", "level 1"),
    ],
)
def test_parse_true_tox_refuses(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_true_tox(text)
    assert caught.value.field == "true_tox"
    assert words in caught.value.message


def test_as_json_shape() -> None:
    oc = exact([0.0, 1.0], deescalate=False)
    assert oc.as_json() == {
        "levels": [
            {"level": 1, "p_select": 1.0, "expected_patients": 3.0, "expected_dlts": 0.0},
            {"level": 2, "p_select": 0.0, "expected_patients": 3.0, "expected_dlts": 3.0},
        ],
        "p_no_mtd": 0.0,
        "expected_sample_size": 6.0,
    }


def test_exact_is_fast_for_six_levels() -> None:
    start = time.perf_counter()
    for deescalate in (False, True):
        exact((0.05, 0.1, 0.2, 0.3, 0.4, 0.5), deescalate=deescalate)
    # Measured at ~0.1 s for both variants together; the margin absorbs a busy machine.
    assert time.perf_counter() - start < 1.0
