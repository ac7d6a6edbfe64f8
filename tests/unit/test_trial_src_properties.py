"""Trial aggregate properties from any starting level and over random SRC decisions (§6, §8)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.trial import DECISIONS, Trial
from support import SRC, follow_recommendation, new_trial, run_cohort

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
MAX_LEVELS = 5


@dataclass(frozen=True)
class Setup:
    levels: int
    deescalate: bool
    starting_level: int

    def trial(self) -> Trial:
        return new_trial(
            self.levels, deescalate=self.deescalate, starting_level=self.starting_level
        )


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    levels = draw(st.integers(1, MAX_LEVELS))
    return Setup(levels, draw(st.booleans()), draw(st.integers(1, levels)))


def _lowest_exceeded(trial: Trial) -> int | None:
    """The lowest level with 2 DLTs or more (computed here, not by the aggregate under test)."""
    levels = [lvl.level for lvl in trial.protocol.dose_levels if trial.dlts_at(lvl.level) >= 2]
    return min(levels, default=None)


COHORTS = st.text(alphabet="NT", min_size=3, max_size=3)


@PROPERTY_SETTINGS
@given(setup=setups(), cohorts=st.lists(COHORTS, min_size=12, max_size=12))
def test_following_the_recommendation_from_any_start_is_never_refused(
    setup: Setup, cohorts: list[str]
) -> None:
    trial = setup.trial()
    for letters in cohorts:
        if trial.status != "escalating":
            break
        run_cohort(trial, letters)
        follow_recommendation(trial)  # raises if the aggregate refuses its own recommendation
    if trial.mtd is not None:
        # Never an MTD at a level no patient received, nor at or above an exceeded level.
        assert trial.patients_at(trial.mtd) >= 3
        exceeded = _lowest_exceeded(trial)
        assert exceeded is None or trial.mtd < exceeded


# One step: the next cohort's outcomes, then a decision the SRC tries (always with a reason, so
# that every departure is allowed as far as reasons go) and the MTD level it names.
STEPS = st.tuples(COHORTS, st.sampled_from(DECISIONS), st.integers(1, MAX_LEVELS))


@PROPERTY_SETTINGS
@given(setup=setups(), steps=st.lists(STEPS, min_size=1, max_size=14))
def test_no_src_decision_goes_up_from_or_past_an_exceeded_level(
    setup: Setup, steps: list[tuple[str, str, int]]
) -> None:
    trial = setup.trial()
    for letters, decision, mtd_level in steps:
        if trial.status != "escalating":
            break
        places = trial.open_cohort.open_places
        if places:
            run_cohort(trial, letters[:places])
        level, exceeded = trial.current_level, _lowest_exceeded(trial)
        before = (len(trial.pending_events), trial.version, len(trial.decisions))
        try:
            trial.sign_decision(
                trial.open_cohort.number,
                decision,
                SRC,
                meaning="approval",
                mtd_level=mtd_level if decision == "declare_mtd" else None,
                reason="SRC judgement",
            )
        except DomainError:
            # A refused decision records nothing.
            assert (len(trial.pending_events), trial.version, len(trial.decisions)) == before
            continue
        if exceeded is not None:
            if decision == "escalate":
                assert level + 1 < exceeded
            if decision == "declare_mtd":
                assert mtd_level < exceeded
        if decision == "declare_mtd":
            assert trial.patients_at(mtd_level) > 0
    # Whatever was signed, the declared MTD is below every level where the MTD was exceeded.
    exceeded = _lowest_exceeded(trial)
    if trial.mtd is not None and exceeded is not None:
        assert trial.mtd < exceeded
    # No cohort ever opened above a level that was exceeded before it opened.
    seen_exceeded: int | None = None
    for cohort in trial.cohorts:
        if seen_exceeded is not None and cohort.origin == "escalation":
            assert cohort.level < seen_exceeded
        dlts = sum(c.dlts for c in trial.cohorts[: cohort.number] if c.level == cohort.level)
        if dlts >= 2:
            seen_exceeded = min(cohort.level, seen_exceeded or cohort.level)
