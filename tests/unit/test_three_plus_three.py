"""Table tests of the 3+3 engine against R escalation::three_plus_three() semantics."""

from __future__ import annotations

import pytest

from domain.designs.three_plus_three import (
    LevelCount,
    PatientOutcome,
    Recommendation,
    format_outcomes,
    level_counts,
    parse_outcomes,
    recommend,
    recommend_text,
)
from domain.errors import InvalidInput

CLASSIC = "classic"
DEESC = "deesc"
BOTH = "both"

# (outcomes, num_doses, variant, next_dose, continue, mtd)
# Reasoning notation: "n/t at d" = t DLTs among n patients at level d.
CASES: list[tuple[str, int, str, int | None, bool, int | None]] = [
    # --- start of trial and first cohort
    ("", 5, BOTH, 1, True, None),  # no patients: start at level 1
    ("   ", 5, BOTH, 1, True, None),  # whitespace only is the empty path
    ("1N", 5, BOTH, 1, True, None),
    ("1T", 5, BOTH, 1, True, None),
    ("1TT", 5, BOTH, 1, True, None),  # 2 DLTs but cohort in progress: R keeps enrolling
    ("1NNN", 5, BOTH, 2, True, None),  # 0/3 -> escalate
    ("1NNT", 5, BOTH, 1, True, None),  # 1/3 -> expand
    ("1NNT 1N", 5, BOTH, 1, True, None),  # 4 at the level: expansion in progress
    ("1NTT", 5, BOTH, None, False, None),  # 2/3 at the lowest level: no tolerable dose
    ("1TTT", 5, BOTH, None, False, None),
    ("1NTN 1NTN", 5, BOTH, None, False, None),  # 2/6 at the lowest level
    ("1NTN 1NNT", 5, BOTH, None, False, None),
    ("1NTN 1NNN", 5, BOTH, 2, True, None),  # 1/6 -> escalate
    ("1ntn 1nnn", 5, BOTH, 2, True, None),  # lower case accepted
    # --- a cohort in progress is never acted on
    ("1NNN 2TT", 5, BOTH, 2, True, None),
    ("1NNN 2NNT 2TT", 5, BOTH, 2, True, None),  # 5 at level 2, two DLTs already: still enrol
    ("1NNN 2NTN 2NNN 3TT", 5, BOTH, 3, True, None),
    # --- classic: >=2 DLTs at d stops with MTD d-1
    ("1NNN 2NTT", 5, CLASSIC, None, False, 1),
    ("1NNN 2TTT", 5, CLASSIC, None, False, 1),
    ("1NNN 2NNT 2NNT", 5, CLASSIC, None, False, 1),  # 2/6 at 2
    ("1NNN 2NNN 3NTT", 5, CLASSIC, None, False, 2),  # MTD 2 although it had only 3 patients
    ("1NNN 2NNN 3NNN 4NNN 5NTT", 5, CLASSIC, None, False, 4),
    # --- de-escalation (Korn): >=2 DLTs at d>1 and d-1 has < 6 -> go to d-1
    ("1NNN 2NTT", 5, DEESC, 1, True, None),
    ("1NNN 2TTN", 5, DEESC, 1, True, None),
    ("1NNN 2NNT 2NNT", 5, DEESC, 1, True, None),  # 2/6 at 2, only 3 at 1
    ("1NNN 2TTN 1N", 5, DEESC, 1, True, None),  # expansion of level 1 in progress
    ("1NNN 2TTN 1NNN", 5, DEESC, None, False, 1),  # 0/6 at 1, level 2 has >=2 DLTs: stop
    ("1NNN 2TTN 1NTN", 5, DEESC, None, False, 1),  # 1/6 at 1: same
    ("1NNN 2TTN 1NTT", 5, DEESC, None, False, None),  # 2/6 at the lowest level: no MTD
    ("1NNN 2NNN 3NTT", 5, DEESC, 2, True, None),
    ("1NNN 2NNN 3NTT 2NNN", 5, DEESC, None, False, 2),  # 0/6 at 2, 3 too toxic: stop
    ("1NNN 2NNN 3NTT 2NTT", 5, DEESC, 1, True, None),  # 2/6 at 2 -> down again, 1 has 3
    ("1NNN 2NNN 3NTT 2NTT 1NNN", 5, DEESC, None, False, 1),
    ("1NNN 2NNN 3NTT 2NTT 1TNT", 5, DEESC, None, False, None),  # 2/6 at 1
    ("1NNN 2NNN 3NNN 4NNN 5NTT", 5, DEESC, 4, True, None),
    # --- >=2 DLTs at d when d-1 already has 6: both variants stop at d-1
    ("1NTN 1NNN 2TTN", 5, CLASSIC, None, False, 1),
    ("1NTN 1NNN 2TTN", 5, DEESC, None, False, 1),  # Korn: highest level with >=6 and <=1 DLT
    ("1NNN 2NTN 2NNN 3TTN", 5, BOTH, None, False, 2),
    ("1NNN 2NNN 3NTN 3NNN 4TTN", 5, BOTH, None, False, 3),
    ("1NNN 2NNN 3NTN 3NNN 4TT", 5, BOTH, 4, True, None),  # in progress
    ("1NNN 2NNN 3NTN 3NNN 4NNT 4TNT", 5, CLASSIC, None, False, 3),
    ("1NNN 2NNN 3NTN 3NNN 4NNT 4TNT", 5, DEESC, None, False, 3),  # 3 has 6 -> Korn picks 3
    # --- expansion paths
    ("1NTN 1NNN 2NNN", 5, BOTH, 3, True, None),
    ("1NTN 1NNN 2NTN", 5, BOTH, 2, True, None),
    ("1NTN 1NNN 2NTN 2NNN", 5, BOTH, 3, True, None),
    ("1NNN 2NNT 2NNN", 5, BOTH, 3, True, None),
    # --- top level
    ("1NNN 2NNN 3NNN", 3, BOTH, None, False, 3),  # 0/3 at top: MTD top with 3 patients
    ("1NNN 2NNN 3NNT", 3, BOTH, 3, True, None),
    ("1NNN 2NNN 3NNT 3NNN", 3, BOTH, None, False, 3),  # 1/6 at top
    ("1NNN 2NNN 3NNT 3N", 3, BOTH, 3, True, None),
    ("1NNN 2NNN 3NNT 3NNT", 3, CLASSIC, None, False, 2),
    ("1NNN 2NNN 3NNT 3NNT", 3, DEESC, 2, True, None),
    ("1NNN 2NNN 3NNT 3NNT 2NNT", 3, DEESC, None, False, 2),  # 1/6 at 2, 3 too toxic
    ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNN", 5, BOTH, None, False, 5),
    ("1NNN", 1, BOTH, None, False, 1),  # single level: 0/3 at top
    ("1NNT", 1, BOTH, 1, True, None),
    ("1NNT 1NNN", 1, BOTH, None, False, 1),
    ("1NNT 1NTN", 1, BOTH, None, False, None),
    ("1NTT", 1, BOTH, None, False, None),
    # --- R accepts a path that starts above level 1 (its own example)
    ("2NNN 3NNT", 7, BOTH, 3, True, None),
]


def _expand(
    cases: list[tuple[str, int, str, int | None, bool, int | None]],
) -> list[tuple[str, int, bool, int | None, bool, int | None]]:
    rows = []
    for text, num_doses, variant, next_dose, cont, mtd in cases:
        for deescalate in (False, True):
            if variant == BOTH or (variant == DEESC) == deescalate:
                rows.append((text, num_doses, deescalate, next_dose, cont, mtd))
    return rows


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("text", "num_doses", "deescalate", "next_dose", "cont", "mtd"), _expand(CASES)
)
def test_recommendation_table(
    text: str, num_doses: int, deescalate: bool, next_dose: int | None, cont: bool, mtd: int | None
) -> None:
    rec = recommend_text(text, num_doses, deescalate=deescalate)
    assert rec.as_json() == {"next_dose": next_dose, "continue": cont, "mtd": mtd}


@pytest.mark.parametrize(
    ("text", "num_doses", "deescalate", "action"),
    [
        ("", 3, False, "enrol"),
        ("1N", 3, False, "enrol"),
        ("1NNN", 3, False, "escalate"),
        ("1NNT", 3, False, "expand"),
        ("1NNT 1NN", 3, False, "enrol"),
        ("1NNT 1NNN", 3, False, "escalate"),
        ("1NNN 2TTN", 3, True, "de-escalate"),
        ("1NNN 2TTN 1N", 3, True, "enrol"),
        ("1NNN 2TTN", 3, False, "declare_mtd"),
        ("1NNN 2NNN 3NNN", 3, True, "declare_mtd"),
        ("1NTT", 3, True, "stop_no_mtd"),
        ("1NNN 2TTN 1TTN", 3, True, "stop_no_mtd"),
    ],
)
def test_action(text: str, num_doses: int, deescalate: bool, action: str) -> None:
    assert recommend_text(text, num_doses, deescalate=deescalate).action == action


def test_as_json_has_exactly_three_keys() -> None:
    rec = Recommendation(next_dose=2, continue_trial=True, mtd=None, action="escalate")
    assert rec.as_json() == {"next_dose": 2, "continue": True, "mtd": None}


# (outcomes, num_doses, deescalate or None for both, words the message must contain)
INVALID: list[tuple[str, int, bool | None, tuple[str, ...]]] = [
    ("1NXN", 3, None, ("'1NXN'", "letter 'X'", "N (no DLT) or T (DLT)")),
    ("1N-N", 3, None, ("character '-'",)),
    ("1NNN,2NNN", 3, None, ("character ','",)),
    ("1NN2NN", 3, None, ("digit '2'", "space")),
    ("0NNN", 3, None, ("level 0",)),
    ("NNN", 3, None, ("does not start with a dose level",)),
    ("2", 3, None, ("'2'", "no patients")),
    ("1NNN 2", 3, None, ("'2'", "no patients")),
    ("abc", 3, None, ("'abc'",)),
    ("1NNN 2NNN", 1, None, ("level 2", "above the highest dose level 1")),
    ("1NNNNNNN", 3, None, ("level 1", "7 patients")),
    ("1NNT 1NNT 1T", 3, None, ("level 1", "7 patients")),
    ("1NNN 3NNN", 3, None, ("skipped", "level 2")),
    ("1NNN 2NNT 2NNN 4N", 5, None, ("skipped", "level 3")),  # R's own enforcer test
    ("1NNT 2N 1N", 3, None, ("several cohorts in progress", "1, 2")),
    ("1NN 2NNN", 3, None, ("level 1", "not complete")),
    ("1NNN 1N", 3, False, ("level 1", "no DLT", "should have escalated")),
    ("1NNN 1NNN", 3, False, ("level 1", "should have escalated")),  # R's enforcer test
    ("1NNN 2TTT 1N", 3, False, ("level 1", "should have escalated")),  # R's enforcer test
    ("1NNN 2TTN 1NNN", 3, False, ("level 1", "should have escalated")),
]


def _expand_invalid(
    rows: list[tuple[str, int, bool | None, tuple[str, ...]]],
) -> list[tuple[str, int, bool, tuple[str, ...]]]:
    out = []
    for text, num_doses, variant, words in rows:
        for deescalate in (False, True) if variant is None else (variant,):
            out.append((text, num_doses, deescalate, words))
    return out


@pytest.mark.parametrize(("text", "num_doses", "deescalate", "words"), _expand_invalid(INVALID))
def test_invalid_outcomes_are_refused(
    text: str, num_doses: int, deescalate: bool, words: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        recommend_text(text, num_doses, deescalate=deescalate)
    assert caught.value.field == "outcomes"
    assert "\n" not in caught.value.message
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize(
    "text", ["1NNN 1N", "1NNN 1NNN", "1NNN 2TTT 1N", "1NNN 2TTN 1NNN", "1NNN 2TTN 1NNN 2N"]
)
def test_toxless_expansion_is_allowed_with_deescalation(text: str) -> None:
    recommend_text(text, 3, deescalate=True)


@pytest.mark.parametrize("num_doses", [0, -1])
@pytest.mark.parametrize("deescalate", [False, True])
def test_num_doses_below_one_is_refused(num_doses: int, deescalate: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        recommend_text("", num_doses, deescalate=deescalate)
    assert caught.value.field == "num_doses"
    with pytest.raises(InvalidInput):
        level_counts((), num_doses)


def test_invalid_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="letter 'X'"):
        parse_outcomes("2NXN")


def test_patient_outcome_refuses_level_below_one() -> None:
    with pytest.raises(InvalidInput, match="level 0"):
        PatientOutcome(level=0, dlt=False)


def test_parse_outcomes() -> None:
    assert parse_outcomes("1NNT 2t") == (
        PatientOutcome(1, False),
        PatientOutcome(1, False),
        PatientOutcome(1, True),
        PatientOutcome(2, True),
    )
    assert parse_outcomes("") == ()
    assert parse_outcomes(" \t\n ") == ()
    assert parse_outcomes("\t1N\n 10T ") == (PatientOutcome(1, False), PatientOutcome(10, True))


@pytest.mark.parametrize(
    "text",
    ["", "1N", "1NNN 2NTNNNN 3TT", "1NNN 2TTN 1NTN", "3T", "1NNNNTN", "10NT 11T"],
)
def test_format_inverts_parse(text: str) -> None:
    assert format_outcomes(parse_outcomes(text)) == text


def test_format_groups_consecutive_patients_and_normalises() -> None:
    assert format_outcomes(parse_outcomes("1NNN 1NTN")) == "1NNNNTN"
    assert parse_outcomes("1NNN 1NTN") == parse_outcomes("1NNNNTN")
    assert format_outcomes(parse_outcomes("  1nnt   2N ")) == "1NNT 2N"


def test_level_counts() -> None:
    path = parse_outcomes("1NNN 2NTT 1NTN")
    assert level_counts(path, 3) == (
        LevelCount(level=1, patients=6, dlts=1),
        LevelCount(level=2, patients=3, dlts=2),
        LevelCount(level=3, patients=0, dlts=0),
    )
    with pytest.raises(InvalidInput, match="level 3"):
        level_counts(parse_outcomes("3N"), 2)


def test_recommend_accepts_any_sequence() -> None:
    path = list(parse_outcomes("1NNN 2NTN"))
    assert recommend(path, 3, deescalate=False) == Recommendation(2, True, None, "expand")


# (outcomes, num_doses, deescalate, action, next_dose, mtd): paths of trials whose protocol
# starts above level 1 (domain.md §6: never an MTD at a level no patient received).
STARTED_ABOVE_LEVEL_1 = [
    ("2TTN", 4, False, "de-escalate", 1, None),  # was declare_mtd at the untried level 1
    ("2TTN", 4, True, "de-escalate", 1, None),
    ("3TTN", 4, False, "de-escalate", 2, None),
    ("3TTN 2TTN", 4, False, "de-escalate", 1, None),  # again: level 1 is untried too
    ("3TTN 2TTN", 4, True, "de-escalate", 1, None),
    ("3TTN 2TTN 1TTN", 4, False, "stop_no_mtd", None, None),
    ("3TTN 2NNN", 4, False, "declare_mtd", None, 2),  # classic: the level below, 3 patients
    ("3TTN 2NNN", 4, True, "expand", 2, None),  # Korn: 6 patients before an MTD
    ("3TTN 2NNN 2NNN", 4, True, "declare_mtd", None, 2),
    ("3TTN 2NTN", 4, False, "expand", 2, None),
    ("3TTN 2NTN 2NNN", 4, False, "declare_mtd", None, 2),
    ("3TTN 2NNN 2NTT", 4, True, "de-escalate", 1, None),
    ("2TTN 1NNN", 4, False, "declare_mtd", None, 1),
    ("2TTN 1NNN", 4, True, "expand", 1, None),
    ("2TTN 1NNN 1NNN", 4, True, "declare_mtd", None, 1),
    ("2NNN 3TTN", 4, False, "declare_mtd", None, 2),  # the level below was given: as before
    ("2NNN 3TTN", 4, True, "de-escalate", 2, None),
    ("2NNN 3TTN 2NNN", 4, True, "declare_mtd", None, 2),
    ("4TTT", 4, True, "de-escalate", 3, None),
]


@pytest.mark.parametrize(
    ("text", "num_doses", "deescalate", "action", "next_dose", "mtd"), STARTED_ABOVE_LEVEL_1
)
def test_a_trial_started_above_level_1_de_escalates_into_untried_levels(
    text: str, num_doses: int, deescalate: bool, action: str, next_dose: int | None, mtd: int | None
) -> None:
    rec = recommend_text(text, num_doses, deescalate=deescalate)
    assert (rec.action, rec.next_dose, rec.mtd) == (action, next_dose, mtd)
    if mtd is not None:
        assert any(p.level == mtd for p in parse_outcomes(text))
