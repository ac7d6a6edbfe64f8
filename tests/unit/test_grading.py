"""CTCAE grades from measurements: every boundary of the domain.md §4 table."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ctcae import CtcaeCatalogue
from domain.errors import InvalidInput
from domain.grading import (
    NUMERIC_TERMS,
    CtcaeVersion,
    Symptoms,
    grade_alt,
    grade_ast,
    grade_bilirubin,
    grade_blurred_vision,
    grade_cpk,
    grade_neutrophils,
    grade_platelets,
    grade_rash_acneiform,
)
from domain.vision import parse_bcva

ULN = 200.0  # a CPK upper limit of normal in U/L


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (0.0, 0),
        (200.0, 0),  # = ULN
        (200.01, 1),
        (500.0, 1),  # 2.5×ULN
        (500.01, 2),
        (1000.0, 2),  # 5×ULN
        (1000.01, 3),
        (2000.0, 3),  # 10×ULN
        (2000.01, 4),
        (1e6, 4),
    ],
)
def test_cpk(value: float, grade: int) -> None:
    assert grade_cpk(value, ULN) == grade


AMINOTRANSFERASE_NORMAL_BASELINE = [
    (40.0, 0),  # = ULN
    (40.1, 1),
    (120.0, 1),  # 3×ULN
    (120.1, 2),
    (200.0, 2),  # 5×ULN
    (200.1, 3),
    (800.0, 3),  # 20×ULN
    (800.1, 4),
]


@pytest.mark.parametrize("grader", [grade_alt, grade_ast])
@pytest.mark.parametrize(("value", "grade"), AMINOTRANSFERASE_NORMAL_BASELINE)
@pytest.mark.parametrize("baseline", [None, 0.0, 25.0, 40.0])  # absent or ≤ ULN: normal
def test_aminotransferases_with_normal_baseline(
    grader: Callable[..., int], value: float, grade: int, baseline: float | None
) -> None:
    assert grader(value, 40.0, baseline) == grade


@pytest.mark.parametrize("grader", [grade_alt, grade_ast])
@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (60.0, 0),  # = baseline, above ULN
        (90.0, 0),  # 1.5×baseline
        (90.1, 1),
        (180.0, 1),  # 3×baseline
        (180.1, 2),
        (300.0, 2),  # 5×baseline
        (300.1, 3),
        (1200.0, 3),  # 20×baseline
        (1200.1, 4),
    ],
)
def test_aminotransferases_with_abnormal_baseline(
    grader: Callable[..., int], value: float, grade: int
) -> None:
    assert grader(value, 40.0, baseline=60.0) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (1.2, 0),  # = ULN
        (1.21, 1),
        (1.8, 1),  # 1.5×ULN
        (1.81, 2),
        (3.6, 2),  # 3×ULN
        (3.61, 3),
        (12.0, 3),  # 10×ULN
        (12.01, 4),
    ],
)
@pytest.mark.parametrize("baseline", [None, 0.5, 1.2])
def test_bilirubin_with_normal_baseline(value: float, grade: int, baseline: float | None) -> None:
    assert grade_bilirubin(value, 1.2, baseline) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (2.0, 0),  # = baseline, above ULN
        (2.01, 1),
        (3.0, 1),  # 1.5×baseline
        (3.01, 2),
        (6.0, 2),  # 3×baseline
        (6.01, 3),
        (20.0, 3),  # 10×baseline
        (20.01, 4),
    ],
)
def test_bilirubin_with_abnormal_baseline(value: float, grade: int) -> None:
    assert grade_bilirubin(value, 1.2, baseline=2.0) == grade


def test_boundaries_are_decimal_exact() -> None:
    # 1.5 × 33.3 is 49.949999999999996 in binary floating point.
    assert grade_bilirubin(49.95, 33.3) == 1
    assert grade_alt(2.1, 0.7) == 1  # 3×ULN, and 3 × 0.7 is 2.0999999999999996


@pytest.mark.parametrize(
    ("count", "grade"),
    [
        (2500.0, 0),
        (2000.0, 0),  # = LLN
        (1999.9, 1),
        (1500.0, 1),
        (1499.9, 2),
        (1000.0, 2),
        (999.9, 3),
        (500.0, 3),
        (499.9, 4),
        (0.0, 4),
    ],
)
def test_neutrophils(count: float, grade: int) -> None:
    assert grade_neutrophils(count, 2000.0) == grade


def test_neutrophils_at_or_above_a_low_lln_are_normal() -> None:
    assert grade_neutrophils(1300.0, 1200.0) == 0
    assert grade_neutrophils(1100.0, 1200.0) == 2


@pytest.mark.parametrize(
    ("count", "grade"),
    [
        (150_000.0, 0),  # = LLN
        (149_999.0, 1),
        (75_000.0, 1),
        (74_999.0, 2),
        (50_000.0, 2),
        (49_999.0, 3),
        (25_000.0, 3),
        (24_999.0, 4),
        (0.0, 4),
    ],
)
def test_platelets(count: float, grade: int) -> None:
    assert grade_platelets(count, 150_000.0) == grade


@pytest.mark.parametrize(
    ("bsa", "symptoms", "v4", "v5"),
    [
        (0.0, "none", 0, 0),
        (0.0, "mild", 1, 1),
        (5.0, "none", 1, 1),
        (9.9, "severe", 1, 1),
        (10.0, "none", 2, 2),
        (20.0, "moderate", 2, 2),
        (30.0, "severe", 2, 2),
        (30.1, "none", 3, 2),
        (31.0, "mild", 3, 2),  # the same rash: G3 under v4.0, G2 under v5.0
        (31.0, "moderate", 3, 3),
        (100.0, "severe", 3, 3),
    ],
)
def test_rash_acneiform(bsa: float, symptoms: Symptoms, v4: int, v5: int) -> None:
    assert grade_rash_acneiform(bsa, symptoms, version="4.0") == v4
    assert grade_rash_acneiform(bsa, symptoms, version="5.0") == v5


@pytest.mark.parametrize("version", ["4.0", "5.0"])
@pytest.mark.parametrize("bsa", [0.0, 5.0, 50.0])
def test_life_threatening_rash_is_grade_4(version: CtcaeVersion, bsa: float) -> None:
    assert grade_rash_acneiform(bsa, "severe", version=version, life_threatening=True) == 4


@pytest.mark.parametrize(
    ("current", "baseline", "grade"),
    [
        ("20/20", "20/20", 0),  # no change
        ("20/20", "20/40", 0),  # better than baseline
        ("20/25", "20/20", 2),
        ("20/40", "20/20", 2),  # exactly 20/40 and exactly 3 lines
        ("0.31", "0.3", 3),  # just worse than 20/40, 0.1 line lost
        ("20/50", "20/40", 3),  # worse than 20/40 with 1 line lost: the higher grade
        ("0.2", "-0.2", 3),  # 20/40 or better but 4 lines lost: the higher grade
        ("0.1", "-0.2", 2),  # exactly 3 lines lost
        ("0.11", "-0.2", 3),  # just over 3 lines lost
        ("0.99", "20/20", 3),  # just better than 20/200
        ("20/200", "20/20", 4),
        ("20/400", "20/200", 4),
        ("20/200", "20/200", 0),  # 20/200 at baseline, unchanged
    ],
)
def test_blurred_vision(current: str, baseline: str, grade: int) -> None:
    assert grade_blurred_vision(parse_bcva(current), parse_bcva(baseline)) == grade


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: grade_cpk(-1.0, ULN), "value"),
        (lambda: grade_cpk(100.0, 0.0), "uln"),
        (lambda: grade_cpk(100.0, -5.0), "uln"),
        (lambda: grade_cpk(float("nan"), ULN), "value"),
        (lambda: grade_cpk(float("inf"), ULN), "value"),
        (lambda: grade_cpk(True, ULN), "value"),
        (lambda: grade_cpk("100", ULN), "value"),  # type: ignore[arg-type]
        (lambda: grade_alt(-0.1, 40.0), "value"),
        (lambda: grade_alt(50.0, 40.0, baseline=-1.0), "baseline"),
        (lambda: grade_ast(50.0, 0.0), "uln"),
        (lambda: grade_bilirubin(1.0, 1.2, baseline=float("nan")), "baseline"),
        (lambda: grade_bilirubin(1.0, -1.2), "uln"),
        (lambda: grade_neutrophils(-1.0, 2000.0), "count_per_mm3"),
        (lambda: grade_neutrophils(1000.0, 0.0), "lln"),
        (lambda: grade_platelets(-1.0, 150_000.0), "count_per_mm3"),
        (lambda: grade_platelets(1000.0, -150_000.0), "lln"),
        (lambda: grade_rash_acneiform(-0.1, "none", version="5.0"), "bsa_percent"),
        (lambda: grade_rash_acneiform(100.1, "none", version="5.0"), "bsa_percent"),
        (lambda: grade_rash_acneiform(10.0, "itchy", version="5.0"), "symptoms"),  # type: ignore[arg-type]
        (lambda: grade_rash_acneiform(10.0, "mild", version="4.03"), "version"),  # type: ignore[arg-type]
        (
            lambda: grade_rash_acneiform(10.0, "mild", version="5.0", life_threatening=1),  # type: ignore[arg-type]
            "life_threatening",
        ),
        (lambda: grade_blurred_vision("20/40", parse_bcva("20/20")), "bcva"),  # type: ignore[arg-type]
        (lambda: grade_blurred_vision(parse_bcva("20/40"), 0.0), "baseline"),  # type: ignore[arg-type]
    ],
)
def test_out_of_range_input_is_refused(call: Callable[[], int], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        call()
    assert refused.value.field == field
    assert field in refused.value.message


def test_numeric_terms_dispatch_by_ctcae_term() -> None:
    catalogue = CtcaeCatalogue.load()
    assert set(NUMERIC_TERMS) == {
        "CPK increased",
        "Alanine aminotransferase increased",
        "Aspartate aminotransferase increased",
        "Blood bilirubin increased",
        "Neutrophil count decreased",
        "Platelet count decreased",
    }
    for term in NUMERIC_TERMS:
        assert catalogue.lookup(term).term == term
    assert NUMERIC_TERMS["CPK increased"](500.0, 200.0) == 1
    assert NUMERIC_TERMS["Platelet count decreased"](24_999.0, 150_000.0) == 4


_VALUES = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
_LIMITS = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.sampled_from(sorted(NUMERIC_TERMS)), _VALUES, _VALUES, _LIMITS)
def test_lab_grades_are_monotone(term: str, a: float, b: float, limit: float) -> None:
    grader = NUMERIC_TERMS[term]
    low, high = sorted((a, b))
    if term.endswith("decreased"):  # lower counts are worse
        assert grader(low, limit) >= grader(high, limit)
    else:
        assert grader(low, limit) <= grader(high, limit)
    assert 0 <= grader(low, limit) <= 4


@given(st.sampled_from([grade_alt, grade_ast, grade_bilirubin]), _VALUES, _VALUES, _LIMITS, _VALUES)
def test_grades_with_baseline_are_monotone(
    grader: Callable[..., int], a: float, b: float, uln: float, baseline: float
) -> None:
    low, high = sorted((a, b))
    assert grader(low, uln, baseline) <= grader(high, uln, baseline)
