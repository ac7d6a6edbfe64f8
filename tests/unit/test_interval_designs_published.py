"""BOIN, i3+3 and mTPI-2 against published cases; the source of each is named beside it."""

from __future__ import annotations

import pytest

from domain.designs.boin import boin_rule
from domain.designs.i3plus3 import i3plus3_rule
from domain.designs.interval_designs import (
    IntervalDesign,
    boundary_rows,
    recommend_text,
    select_mtd,
)
from domain.designs.mtpi2 import mtpi2_rule
from domain.errors import InvalidInput

BOIN_30 = IntervalDesign(boin_rule(0.3), max_n=30)
# A maximum sample size that never binds, as R escalation::get_boin() without stop_at_n().
BOIN_30_OPEN = IntervalDesign(boin_rule(0.3), max_n=300)
MTPI2_30 = IntervalDesign(mtpi2_rule(0.3, 0.05, 0.05), max_n=300)


@pytest.mark.parametrize(
    ("target", "lambda_e", "lambda_d"),
    [
        # Liu & Yuan (2015), Table 1 (φ1 = 0.6φ, φ2 = 1.4φ), to the three decimals printed.
        (0.20, 0.157, 0.238),
        (0.25, 0.197, 0.298),
        (0.30, 0.236, 0.359),
        (0.35, 0.276, 0.419),
        (0.40, 0.316, 0.480),
    ],
)
def test_boin_boundaries_are_liu_and_yuan_table_1(
    target: float, lambda_e: float, lambda_d: float
) -> None:
    rule = boin_rule(target)
    assert round(rule.lambda_e, 3) == lambda_e
    assert round(rule.lambda_d, 3) == lambda_d


def test_boin_decision_table_is_r_get_boundary_for_target_0_3() -> None:
    # R BOIN 2.7.2: get.boundary(target = 0.3, ncohort = 10, cohortsize = 3)$boundary_tab, the
    # table of the package's own example (and of Yan et al. 2020, JSS 94(13)).
    rows = boundary_rows(BOIN_30)
    assert [r.n for r in rows] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert [r.escalate_at_most for r in rows] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 7]
    assert [r.deescalate_at_least for r in rows] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [r.eliminate_at_least for r in rows] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]


def test_boin_table_stops_at_n_earlystop_as_r_does() -> None:
    # get.boundary(..., n.earlystop = 12): columns up to min(ncohort * cohortsize, n.earlystop).
    design = IntervalDesign(boin_rule(0.3), max_n=30, n_earlystop=12)
    assert [r.n for r in boundary_rows(design)] == [3, 6, 9, 12]


def test_boin_full_table_for_cohorts_of_one() -> None:
    # get.boundary(0.3, ncohort = 6, cohortsize = 1): n = 1, 2 cannot eliminate (NA in R).
    rows = boundary_rows(IntervalDesign(boin_rule(0.3), cohort_size=1, max_n=6))
    assert [r.escalate_at_most for r in rows] == [0, 0, 0, 0, 1, 1]
    assert [r.deescalate_at_least for r in rows] == [1, 1, 2, 2, 2, 3]
    assert [r.eliminate_at_least for r in rows] == [None, None, 3, 3, 4, 4]


# The trial of five doses, target 0.3, in R escalation's tests ("BOIN recommendations match
# published example", p.25 of Han, Pan, Zhang, Liu & Yuan 2019) and its BOIN vignette.
BOIN_PUBLISHED_PATH = [
    ("1NNN", 2),
    ("1NNN 2NNN", 3),
    ("1NNN 2NNN 3NTT", 2),
    ("1NNN 2NNN 3NTT 2NTN", 3),
    ("1NNN 2NNN 3NTT 2NTN 3NNN", 3),
    ("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN", 4),
    ("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT", 3),
    ("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT 3NTN", 3),
    ("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT 3NTN 3NNT", 3),
    ("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT 3NTN 3NNT 3TNN", 3),
]


@pytest.mark.parametrize(("outcomes", "next_dose"), BOIN_PUBLISHED_PATH)
def test_boin_follows_the_published_trial(outcomes: str, next_dose: int) -> None:
    rec = recommend_text(outcomes, 5, BOIN_30_OPEN)
    assert (rec.next_dose, rec.continue_trial, rec.mtd) == (next_dose, True, None)


def test_boin_eliminates_the_dose_of_3_of_3_and_those_above() -> None:
    # 3/3 at dose 4: Pr(p4 > 0.3 | Beta(4, 1)) = 1 - 0.3^4 > 0.95 (elimination boundary 3 at n=3).
    rec = recommend_text("1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT", 5, BOIN_30_OPEN)
    assert rec.eliminated == (4, 5)
    # The vignette: "1NNN 2NNN 3NTT" does not yet make dose 3 inadmissible.
    assert recommend_text("1NNN 2NNN 3NTT", 5, BOIN_30_OPEN).eliminated == ()


def test_boin_stops_at_30_patients_and_selects_dose_3() -> None:
    # The same trial's tenth cohort reaches 30 patients (the example's maximum): stop, MTD 3.
    rec = recommend_text(BOIN_PUBLISHED_PATH[-1][0], 5, BOIN_30)
    assert (rec.next_dose, rec.continue_trial, rec.mtd) == (None, False, 3)


def test_select_mtd_is_the_r_select_mtd_example() -> None:
    # R BOIN 2.7.2 ?select.mtd example (Yan et al. 2020, p.15): n = (3, 3, 15, 9, 0),
    # y = (0, 0, 4, 4, 0), target 0.3 -> MTD 3; R escalation's test_select_boin_mtd.R agrees,
    # from the outcomes '1NNN 2NNN 3NNN 3NNN 3NNN 3NNT 3TTT 4NNN 4NNT 4TTT' stopped at n = 30.
    assert select_mtd(BOIN_30, [3, 3, 15, 9, 0], [0, 0, 4, 4, 0]) == 3
    rec = recommend_text("1NNN 2NNN 3NNN 3NNN 3NNN 3NNT 3TTT 4NNN 4NNT 4TTT", 5, BOIN_30)
    assert (rec.continue_trial, rec.mtd) == (False, 3)


def test_select_mtd_never_picks_an_eliminated_dose() -> None:
    # R escalation's test_select_boin_mtd.R: '2NNT 5TTT' -> select.mtd(n = (0,3,0,0,3),
    # y = (0,1,0,0,3)) is dose 2 (dose 5 is eliminated by 3/3).
    assert select_mtd(BOIN_30, [0, 3, 0, 0, 3], [0, 1, 0, 0, 3]) == 2


def test_select_mtd_of_the_escalation_vignette_stop_at_12() -> None:
    # R escalation's BOIN vignette: get_boin(5, 0.3) %>% stop_at_n(12) %>% select_boin_mtd()
    # on '1NNN 2NTN 2NNN 3NTT'. By hand: rates (0.05/3.1, 1.05/6.1, 2.05/3.1) = (0.016, 0.172,
    # 0.661) are already increasing; 0.172 is closest to 0.3 -> dose 2.
    design = IntervalDesign(boin_rule(0.3), max_n=12)
    rec = recommend_text("1NNN 2NTN 2NNN 3NTT", 5, design)
    assert (rec.next_dose, rec.continue_trial, rec.mtd) == (None, False, 2)


def test_select_mtd_ties_follow_boin() -> None:
    # select.mtd's tie rule: equal isotonic estimates below the target -> the higher dose;
    # above it -> the lower dose. Pooling (1/3, 0/3) gives two equal estimates below 0.3.
    assert select_mtd(BOIN_30, [3, 3], [1, 0]) == 2
    # Both 2/3 (estimate 0.661 each, above 0.3): the lower dose.
    assert select_mtd(BOIN_30, [3, 3], [2, 2]) == 1


def test_select_mtd_none_when_the_lowest_dose_is_eliminated() -> None:
    assert select_mtd(BOIN_30, [3, 3], [3, 0]) is None
    assert select_mtd(BOIN_30, [0, 0], [0, 0]) is None


# mTPI-2, target 0.3, ε1 = ε2 = 0.05: the decisions of Figure 3 of Guo et al. (2017), as R
# escalation's test_mtpi2.R reproduces them ("mtpi2_selector matches published example").
MTPI2_FIGURE_3 = [
    # at dose 1 of 5: de-escalation is impossible, 3/3, 4+/6 and 5+/9 eliminate and stop
    ("1NNN", 2), ("1NNT", 1), ("1NTT", 1), ("1TTT", None),
    ("1NNN 1NNN", 2), ("1NNN 1NNT", 2), ("1NNN 1NTT", 1), ("1NNN 1TTT", 1),
    ("1NNT 1TTT", None), ("1NTT 1TTT", None), ("1TTT 1TTT", None),
    ("1NNN 1NNN 1NNN", 2), ("1NNN 1NNN 1NNT", 2), ("1NNN 1NNN 1NTT", 2),
    ("1NNN 1NNN 1TTT", 1), ("1NNN 1NNT 1TTT", 1), ("1NNN 1NTT 1TTT", None),
    ("1TTT 1TTT 1TTT", None),
    # at dose 2
    ("2NNN", 3), ("2NNT", 2), ("2NTT", 1), ("2TTT", 1),
    ("2NNN 2NNN", 3), ("2NNN 2NNT", 3), ("2NNN 2NTT", 2), ("2NNN 2TTT", 1), ("2NNT 2TTT", 1),
    ("2NNN 2NNN 2NNN", 3), ("2NNN 2NNN 2NTT", 3), ("2NNN 2NNN 2TTT", 2),
    ("2NNN 2NNT 2TTT", 1), ("2TTT 2TTT 2TTT", 1),
    # at the top dose: escalation is impossible
    ("5NNN", 5), ("5NNT", 5), ("5NTT", 4), ("5TTT", 4),
    ("5NNN 5NNN", 5), ("5NNN 5NTT", 5), ("5NNN 5TTT", 4),
    ("5NNN 5NNN 5TTT", 5), ("5NNN 5NNT 5TTT", 4), ("5TTT 5TTT 5TTT", 4),
]  # fmt: skip


@pytest.mark.parametrize(("outcomes", "next_dose"), MTPI2_FIGURE_3)
def test_mtpi2_is_guo_et_al_figure_3(outcomes: str, next_dose: int | None) -> None:
    rec = recommend_text(outcomes, 5, MTPI2_30)
    assert rec.next_dose == next_dose
    assert rec.continue_trial is (next_dose is not None)
    if next_dose is None:
        assert (rec.mtd, rec.eliminated) == (None, (1, 2, 3, 4, 5))


def test_mtpi2_intervals_are_the_equivalence_interval_and_equal_widths() -> None:
    # Guo et al. (2017): for φ = 0.3 and ε = 0.05 the intervals are (0, 0.05), (0.05, 0.15),
    # (0.15, 0.25), EI = (0.25, 0.35), (0.35, 0.45), ..., (0.95, 1).
    below, equivalence, above = mtpi2_rule(0.3).intervals()
    assert [tuple(round(x, 10) for x in i) for i in below] == [
        (0.15, 0.25), (0.05, 0.15), (0.0, 0.05)
    ]  # fmt: skip
    assert equivalence == (0.25, 0.35)
    assert len(above) == 7 and round(above[-1][0], 10) == 0.95 and above[-1][1] == 1.0


# i3+3, target 0.25, EI = [0.2, 0.3] (the example of the authors' R package FIND,
# get_decision_i3plus3(pT = 0.25, EI = c(0.2, 0.3))), decisions worked by hand from the rule of
# Liu, Wang & Ji (2020, §2): E if x/n < 0.2; S if 0.2 <= x/n <= 0.3; above, S if (x-1)/n < 0.2,
# else D; DU (de-escalate and eliminate) if Pr(p > 0.25 | x, n) > 0.95.
I3PLUS3_TABLE = {
    3: "ESDU",  # 1/3: (1-1)/3 = 0 < 0.2 -> stay, the i3+3's hallmark "3+3-like" rule
    4: "ESDUU",  # 3/4: Pr(p > 0.25 | Beta(4, 2)) = 0.984 > 0.95
    5: "ESDUUU",  # 1/5 = 0.2 is inside; 2/5: (2-1)/5 = 0.2 is not below it; 3/5: Pr = 0.962
    6: "EESDUUU",  # 1/6 < 0.2 escalates; 2/6: (2-1)/6 < 0.2 -> stay; 4/6 eliminates
    9: "EESDDUUUUU",  # 2/9 = 0.222 inside; 3/9: 2/9 >= 0.2 -> D; 5/9 eliminates
    12: "EEESDDUUUUUUU",  # 3/12 = 0.25 inside; 4/12: 3/12 >= 0.2 -> D; 6/12 eliminates
}
_LETTER = {"escalate": "E", "stay": "S", "de-escalate": "D", "eliminate": "U"}


@pytest.mark.parametrize(("n", "letters"), sorted(I3PLUS3_TABLE.items()))
def test_i3plus3_decision_table(n: int, letters: str) -> None:
    design = IntervalDesign(i3plus3_rule(0.25, (0.2, 0.3)), cohort_size=1, max_n=12)
    assert "".join(_LETTER[design.cell(n, x)] for x in range(n + 1)) == letters


def test_i3plus3_stays_after_1_of_3_and_de_escalates_after_2_of_3() -> None:
    # Liu, Wang & Ji (2020): with 3 patients i3+3 acts as 3+3 does on 0/3 and 1/3.
    design = IntervalDesign(i3plus3_rule(0.3, (0.25, 0.35)), max_n=30)
    assert recommend_text("1NNN", 5, design).next_dose == 2
    assert recommend_text("1NNN 2NNT", 5, design).next_dose == 2
    assert recommend_text("1NNN 2NTT", 5, design).next_dose == 1
    rec = recommend_text("1NNN 2TTT", 5, design)
    assert (rec.next_dose, rec.eliminated) == (1, (2, 3, 4, 5))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: boin_rule(0.7), "target"),
        (lambda: boin_rule(0.01), "target"),
        (lambda: boin_rule(0.3, phi1=0.29), "phi1"),
        (lambda: boin_rule(0.3, phi2=0.31), "phi2"),
        (lambda: i3plus3_rule(0.3, (0.3, 0.35)), "interval"),
        (lambda: i3plus3_rule(0.3, (0.25, 0.31)), "interval"),
        (lambda: mtpi2_rule(0.3, 0.0, 0.05), "epsilon1"),
        (lambda: mtpi2_rule(0.3, 0.05, -1.0), "epsilon2"),
        (lambda: IntervalDesign(boin_rule(0.3), max_n=31), "max_n"),
        (lambda: IntervalDesign(boin_rule(0.3), cohort_size=0), "cohort_size"),
        (lambda: IntervalDesign(boin_rule(0.3), n_earlystop=0), "n_earlystop"),
        (lambda: IntervalDesign(boin_rule(0.3), cutoff_eli=1.0), "cutoff_eli"),
    ],
)
def test_bad_parameters_name_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
