"""Properties of whole trials driven by the 3+3 engine itself."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.designs.three_plus_three import (
    PatientOutcome,
    Recommendation,
    format_outcomes,
    level_counts,
    parse_outcomes,
    recommend,
)

MAX_DOSES = 6
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None)


@dataclass(frozen=True)
class Trial:
    num_doses: int
    deescalate: bool
    path: tuple[PatientOutcome, ...]
    # decisions[i] is the recommendation after the first i patients; the last one stops.
    decisions: tuple[Recommendation, ...]


def run_trial(num_doses: int, deescalate: bool, dlt_for: Callable[[int, int], bool]) -> Trial:
    """Enrol each patient where the engine says until it stops (or clearly runs away)."""
    path: list[PatientOutcome] = []
    decisions: list[Recommendation] = []
    # One patient more than the bound lets a runaway trial show up as a failed assertion.
    for index in range(6 * num_doses + 2):
        decision = recommend(path, num_doses, deescalate=deescalate)
        decisions.append(decision)
        if decision.next_dose is None:
            break
        path.append(PatientOutcome(decision.next_dose, dlt_for(decision.next_dose, index)))
    return Trial(num_doses, deescalate, tuple(path), tuple(decisions))


@st.composite
def trials(draw: st.DrawFn) -> Trial:
    num_doses = draw(st.integers(1, MAX_DOSES))
    deescalate = draw(st.booleans())
    # A DLT threshold per level (0 = never, 10 = always) and a uniform draw per patient give
    # paths that climb far as well as paths that stop early, and both shrink well. Mostly low
    # thresholds, or most trials would stop at level 1.
    threshold = st.sampled_from([0, 1, 2, 3, 5, 10])
    thresholds = draw(st.lists(threshold, min_size=num_doses, max_size=num_doses))
    rolls = draw(
        st.lists(st.integers(0, 9), min_size=6 * num_doses + 2, max_size=6 * num_doses + 2)
    )
    # A roll of 9 is the unlucky one, so that simple (zero) rolls mean no DLT.
    return run_trial(num_doses, deescalate, lambda level, i: rolls[i] >= 10 - thresholds[level - 1])


def _counts(trial: Trial, upto: int | None = None) -> tuple[list[int], list[int]]:
    counts = level_counts(trial.path[:upto], trial.num_doses)
    return [0] + [c.patients for c in counts], [0] + [c.dlts for c in counts]


def check_trial(trial: Trial) -> None:
    """Assert everything that must hold for a trial the engine drove itself."""
    num_doses, path, decisions = trial.num_doses, trial.path, trial.decisions
    n, tox = _counts(trial)

    # It stops, within 6 patients per level, and stops only at the end.
    assert decisions[-1].next_dose is None
    assert all(d.continue_trial for d in decisions[:-1])
    assert len(path) <= 6 * num_doses
    assert len(decisions) == len(path) + 1

    # It starts at level 1 and never skips a level upwards.
    assert decisions[0].next_dose == 1
    highest = 0
    for i, decision in enumerate(decisions[:-1]):
        assert decision.next_dose is not None
        assert 1 <= decision.next_dose <= min(highest + 1, num_doses)
        highest = max(highest, decision.next_dose)
        # No more than 6 patients ever at a level.
        n_before, _ = _counts(trial, i)
        assert n_before[decision.next_dose] < 6

    # The level changes (and the trial stops) only between complete cohorts of 3.
    for i, decision in enumerate(decisions):
        if i == 0:
            continue
        last = path[i - 1].level
        if decision.next_dose != last:
            n_before, _ = _counts(trial, i)
            assert n_before[last] % 3 == 0
    assert all(count % 3 == 0 for count in n)

    # Each decision is internally consistent.
    for i, decision in enumerate(decisions):
        assert decision.continue_trial == (decision.next_dose is not None)
        if not decision.continue_trial:
            assert decision.action == ("stop_no_mtd" if decision.mtd is None else "declare_mtd")
            continue
        assert decision.mtd is None
        next_dose = decision.next_dose
        assert next_dose is not None
        if i == 0:
            assert decision.action == "enrol"
            continue
        last = path[i - 1].level
        n_before, tox_before = _counts(trial, i)
        if next_dose == last:
            expanding = n_before[last] == 3 and tox_before[last] == 1
            assert decision.action == ("expand" if expanding else "enrol")
        else:
            step = {last + 1: "escalate", last - 1: "de-escalate"}
            assert decision.action == step[next_dose]
            if decision.action == "escalate":
                # Going up always enters an untried level: after a de-escalation the level
                # above has >=2 DLTs and is never re-entered.
                assert n_before[next_dose] == 0

    # What the declared MTD (or its absence) says about the data.
    mtd = decisions[-1].mtd
    if mtd is None:
        assert tox[1] >= 2
    else:
        assert 1 <= mtd <= num_doses
        assert tox[mtd] <= 1
        assert n[mtd] in (3, 6)
        if mtd < num_doses:
            assert tox[mtd + 1] >= 2
        if trial.deescalate:
            # Korn: >=6 patients at the MTD; only 0/3 at the top level stops with 3.
            assert n[mtd] == 6 or (mtd == num_doses and n[mtd] == 3 and tox[mtd] == 0)
        else:
            # Classic 3+3 never goes back down: the MTD is just below the highest level tried.
            assert mtd == max(p.level for p in path) - (0 if mtd == num_doses else 1)
    if not trial.deescalate:
        # Classic 3+3 never goes back down.
        assert all(a.level <= b.level for a, b in itertools.pairwise(path))


def check_variants_agree(trial: Trial) -> None:
    """Both variants decide alike until some level above 1 has seen 2 DLTs."""
    for i in range(len(trial.path) + 1):
        _, tox = _counts(trial, i)
        if any(t >= 2 for t in tox[2:]):
            break
        prefix = trial.path[:i]
        classic = recommend(prefix, trial.num_doses, deescalate=False)
        korn = recommend(prefix, trial.num_doses, deescalate=True)
        assert classic == korn, format_outcomes(prefix)


@PROPERTY_SETTINGS
@given(trials())
def test_engine_driven_trials_keep_the_3_plus_3_invariants(trial: Trial) -> None:
    check_trial(trial)


@PROPERTY_SETTINGS
@given(trials())
def test_variants_differ_only_after_two_dlts_above_level_one(trial: Trial) -> None:
    check_variants_agree(trial)


@PROPERTY_SETTINGS
@given(trials())
def test_outcome_string_round_trip_of_engine_paths(trial: Trial) -> None:
    text = format_outcomes(trial.path)
    assert parse_outcomes(text) == trial.path
    assert parse_outcomes(text.lower()) == trial.path
    # Re-reading the string gives the same decision as the path it came from.
    assert (
        recommend(parse_outcomes(text), trial.num_doses, deescalate=trial.deescalate)
        == (trial.decisions[-1])
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.builds(PatientOutcome, level=st.integers(1, 12), dlt=st.booleans()), max_size=30)
)
def test_format_parse_round_trip_of_any_path(path: list[PatientOutcome]) -> None:
    assert parse_outcomes(format_outcomes(path)) == tuple(path)


def _all_trials(num_doses: int, deescalate: bool) -> Iterator[Trial]:
    """Every engine-driven trial: each patient, in turn, with and without a DLT."""

    def walk(path: tuple[PatientOutcome, ...]) -> Iterator[tuple[PatientOutcome, ...]]:
        decision = recommend(path, num_doses, deescalate=deescalate)
        if decision.next_dose is None:
            yield path
            return
        for dlt in (False, True):
            yield from walk((*path, PatientOutcome(decision.next_dose, dlt)))

    for path in walk(()):
        yield run_trial(num_doses, deescalate, _replay(path))


def _replay(path: tuple[PatientOutcome, ...]) -> Callable[[int, int], bool]:
    return lambda level, i: path[i].dlt


def test_every_trial_with_up_to_three_levels_keeps_the_invariants() -> None:
    for num_doses in range(1, 4):
        for deescalate in (False, True):
            seen = 0
            for trial in _all_trials(num_doses, deescalate):
                check_trial(trial)
                check_variants_agree(trial)
                seen += 1
            assert seen > 1


# ------------------------------------------------------------------ starting above level 1


def run_trial_from(
    start: int, num_doses: int, deescalate: bool, dlt_for: Callable[[int, int], bool]
) -> Trial:
    """As run_trial, with the first cohort at ``start`` (a protocol's starting level)."""
    path: list[PatientOutcome] = []
    decisions: list[Recommendation] = []
    for index in range(6 * num_doses + 2):
        if path:
            decision = recommend(path, num_doses, deescalate=deescalate)
        else:
            decision = Recommendation(
                next_dose=start, continue_trial=True, mtd=None, action="enrol"
            )
        decisions.append(decision)
        if decision.next_dose is None:
            break
        path.append(PatientOutcome(decision.next_dose, dlt_for(decision.next_dose, index)))
    return Trial(num_doses, deescalate, tuple(path), tuple(decisions))


@st.composite
def trials_from_any_start(draw: st.DrawFn) -> tuple[int, Trial]:
    num_doses = draw(st.integers(1, MAX_DOSES))
    start = draw(st.integers(1, num_doses))
    deescalate = draw(st.booleans())
    threshold = st.sampled_from([0, 1, 3, 5, 7, 10])
    thresholds = draw(st.lists(threshold, min_size=num_doses, max_size=num_doses))
    size = 6 * num_doses + 2
    rolls = draw(st.lists(st.integers(0, 9), min_size=size, max_size=size))
    trial = run_trial_from(
        start, num_doses, deescalate, lambda level, i: rolls[i] >= 10 - thresholds[level - 1]
    )
    return start, trial


def check_trial_from(start: int, trial: Trial) -> None:
    """What must hold for an engine-driven trial from any starting level."""
    num_doses, path, decisions = trial.num_doses, trial.path, trial.decisions
    n, tox = _counts(trial)
    assert path[0].level == start
    assert decisions[-1].next_dose is None
    assert all(d.continue_trial for d in decisions[:-1])
    assert len(path) <= 6 * num_doses
    assert all(0 <= count <= 6 and count % 3 == 0 for count in n)
    for decision in decisions[:-1]:
        assert decision.next_dose is not None and 1 <= decision.next_dose <= num_doses
    mtd = decisions[-1].mtd
    if mtd is None:
        # No tolerable dose: only once level 1 itself had 2 DLTs.
        assert tox[1] >= 2
    else:
        # Never an MTD at a level no patient received (domain.md §6).
        assert n[mtd] >= 3
        assert tox[mtd] <= 1
        assert mtd == num_doses or tox[mtd + 1] >= 2
        if trial.deescalate:
            assert n[mtd] == 6 or (mtd == num_doses and n[mtd] == 3 and tox[mtd] == 0)


@PROPERTY_SETTINGS
@given(trials_from_any_start())
def test_from_any_starting_level_the_mtd_is_a_level_patients_received(
    case: tuple[int, Trial],
) -> None:
    check_trial_from(*case)


def test_every_trial_from_every_starting_level_up_to_three_levels() -> None:
    def walk(
        start: int, num_doses: int, deescalate: bool, path: tuple[PatientOutcome, ...]
    ) -> Iterator[tuple[PatientOutcome, ...]]:
        next_dose = start
        if path:
            next_dose = recommend(path, num_doses, deescalate=deescalate).next_dose
        if next_dose is None:
            yield path
            return
        for dlt in (False, True):
            yield from walk(start, num_doses, deescalate, (*path, PatientOutcome(next_dose, dlt)))

    for num_doses in range(1, 4):
        for start in range(1, num_doses + 1):
            for deescalate in (False, True):
                for path in walk(start, num_doses, deescalate, ()):
                    trial = run_trial_from(start, num_doses, deescalate, _replay(path))
                    check_trial_from(start, trial)
