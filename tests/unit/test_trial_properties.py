"""Properties of whole trials driven through the Trial aggregate with random DLT outcomes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.designs.three_plus_three import parse_outcomes, recommend
from support import follow_recommendation, new_trial, replay, run_cohort


@settings(max_examples=150, deadline=None)
@given(
    levels=st.integers(min_value=1, max_value=5),
    deescalate=st.booleans(),
    dlts=st.lists(st.booleans(), min_size=90, max_size=90),
    dropouts=st.lists(st.booleans(), min_size=90, max_size=90),
)
def test_src_following_recommendations_reaches_the_engines_answer(
    levels: int, deescalate: bool, dlts: list[bool], dropouts: list[bool]
) -> None:
    trial = new_trial(levels, deescalate=deescalate)
    stream = iter(zip(dlts, dropouts, strict=True))
    while trial.status == "escalating":
        letters = ""
        while len(letters.replace("X", "")) < 3:
            dlt, dropout = next(stream)
            # A dropout (not evaluable) is replaced; cap them so the stream suffices.
            letters += "X" if dropout and letters.count("X") < 1 else "T" if dlt else "N"
        run_cohort(trial, letters)
        follow_recommendation(trial)
        for level in range(1, levels + 1):
            assert trial.patients_at(level) <= 6
        assert len(trial.cohorts) <= 2 * levels + 1

    path = parse_outcomes(trial.outcome_string())
    final = recommend(path, levels, deescalate=deescalate)
    assert not final.continue_trial
    assert trial.mtd == final.mtd
    assert trial.status == ("mtd_declared" if final.mtd is not None else "stopped")
    if trial.mtd is not None:
        assert trial.dlts_at(trial.mtd) <= 1
    given_levels = sorted({c.level for c in trial.cohorts})
    assert given_levels == list(range(1, max(given_levels) + 1))  # no level skipped
    rebuilt = replay(trial)
    assert rebuilt.cohorts == trial.cohorts
    assert (rebuilt.mtd, rebuilt.status, rebuilt.version) == (
        trial.mtd,
        trial.status,
        trial.version,
    )
