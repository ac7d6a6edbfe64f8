"""A Trial under an interval design (BOIN, i3+3, mTPI-2): the engine recommends, the SRC signs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.designs.interval_designs import recommend_text
from domain.errors import CommandRefused, InvalidInput
from domain.protocol_design import BoinDesign
from domain.trial import Trial
from support import (
    SRC,
    follow_recommendation,
    interval_trial,
    new_trial,
    refused_without_event,
    replay,
    run_cohort,
)


def _engine_says(trial: Trial) -> str:
    design = trial.protocol.design
    assert isinstance(design, BoinDesign)
    rec = recommend_text(trial.outcome_string(), trial.protocol.num_levels, design.engine())
    return f"{rec.action} {rec.next_dose} {rec.mtd} {list(rec.eliminated)}"


def _sign(trial: Trial, decision: str, **kwargs: object) -> None:
    trial.sign_decision(trial.open_cohort.number, decision, SRC, meaning="approval", **kwargs)  # type: ignore[arg-type]


def test_a_boin_trial_escalates_stays_and_de_escalates_as_the_engine_does() -> None:
    trial = interval_trial(5)
    run_cohort(trial, "NNN")
    rec = trial.recommendation()
    assert rec is not None and (rec.action, rec.next_dose) == ("escalate", 2)
    assert rec.as_json()["boundary"] == {
        "n": 3,
        "escalate_at_most": 0,
        "deescalate_at_least": 2,
        "eliminate_at_least": 3,
        "dlts": 0,
    }
    assert follow_recommendation(trial) == "escalate"
    run_cohort(trial, "NTN")
    assert _engine_says(trial) == "stay 2 None []"
    assert follow_recommendation(trial) == "stay"
    assert (trial.open_cohort.level, trial.open_cohort.origin) == (2, "stay")
    run_cohort(trial, "TNT")  # 3/6 at level 2: de-escalate
    assert follow_recommendation(trial) == "de-escalate"
    assert trial.current_level == 1


def test_an_eliminated_dose_is_left_below_and_never_given_again() -> None:
    trial = interval_trial(3)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "TTT")  # 3/3 at level 2: P(p > 0.3) > 0.95, eliminated with level 3
    rec = trial.recommendation()
    assert rec is not None
    assert (rec.action, rec.next_dose, rec.eliminated) == ("eliminate-and-de-escalate", 1, (2, 3))
    follow_recommendation(trial)
    assert (trial.current_level, trial.open_cohort.origin) == (1, "de-escalation")
    run_cohort(trial, "NNN")
    rec = trial.recommendation()
    assert rec is not None and rec.action == "stay"  # escalation into level 2 stays at 1
    with pytest.raises(CommandRefused) as caught:
        _sign(trial, "escalate", reason="the SRC wants level 2")
    assert caught.value.rule == "eliminated_dose"


def test_the_trial_stops_at_the_maximum_sample_size_with_the_isotonic_mtd() -> None:
    trial = interval_trial(3, max_n=9)
    for letters in ("NNN", "NTN", "NNN"):
        run_cohort(trial, letters)
        action = follow_recommendation(trial)
    assert action == "declare_mtd"
    assert (trial.status, trial.mtd) == ("mtd_declared", 2)
    assert _engine_says(trial) == "declare_mtd None 2 []"


def test_the_lowest_dose_eliminated_stops_the_trial_without_an_mtd() -> None:
    trial = interval_trial(3)
    run_cohort(trial, "TTT")
    assert follow_recommendation(trial) == "stop_no_mtd"
    assert trial.status == "stopped" and trial.mtd is None


def test_n_earlystop_stops_a_stay_at_a_dose_with_that_many_patients() -> None:
    trial = interval_trial(2, n_earlystop=6)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)  # escalate to the top
    run_cohort(trial, "NNN")
    assert follow_recommendation(trial) == "stay"  # no level above: stay
    run_cohort(trial, "NTN")
    assert follow_recommendation(trial) == "declare_mtd"
    assert trial.mtd == 2


def test_replay_of_a_boin_trial_gives_the_same_state() -> None:
    trial = interval_trial(3)
    for letters in ("NNN", "NTN", "TTN"):
        run_cohort(trial, letters)
        follow_recommendation(trial)
    rebuilt = replay(trial)
    assert rebuilt.outcome_string() == trial.outcome_string()
    assert [(c.level, c.origin) for c in rebuilt.cohorts] == [
        (c.level, c.origin) for c in trial.cohorts
    ]
    assert rebuilt.decisions == trial.decisions
    recorded = trial.decisions[-1]["recommendation"]
    assert recorded["design"] == "boin" and recorded["action"] == "de-escalate"


def test_a_departure_needs_a_reason_and_is_recorded() -> None:
    trial = interval_trial(3)
    run_cohort(trial, "NNN")
    with pytest.raises(CommandRefused) as caught:
        _sign(trial, "stay")
    assert caught.value.rule == "reason_required"
    _sign(trial, "stay", reason="a late grade 2 rash to watch")
    assert trial.decisions[-1]["recommendation"]["action"] == "escalate"
    assert trial.decisions[-1]["reason"] == "a late grade 2 rash to watch"


def _at_level_2_after(letters: str, **design: int) -> Trial:
    trial = interval_trial(3, **design)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, letters)
    return trial


def _top_of_two() -> Trial:
    trial = interval_trial(2)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "NNN")
    return trial


def _stopped_at_max() -> Trial:
    trial = interval_trial(3, max_n=6)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "NNN")
    return trial


REFUSALS: list[tuple[str, Callable[[], Trial], Callable[[Trial], object]]] = [
    ("eliminated_dose", lambda: _at_level_2_after("TTT"), lambda t: _sign(t, "stay", reason="r")),
    (
        "escalation_above_deescalation_boundary",
        lambda: _at_level_2_after("TTN"),
        lambda t: _sign(t, "escalate", reason="r"),
    ),
    (
        "max_sample_size_reached",
        _stopped_at_max,
        lambda t: _sign(t, "stay", reason="one more cohort"),
    ),
    (
        "mtd_eliminated",
        lambda: _at_level_2_after("TTT"),
        lambda t: _sign(t, "declare_mtd", mtd_level=2, reason="r"),
    ),
    (
        "mtd_untested",
        lambda: _at_level_2_after("NNN"),
        lambda t: _sign(t, "declare_mtd", mtd_level=3, reason="r"),
    ),
    (
        "mtd_above_selection",
        lambda: _at_level_2_after("TTN"),
        lambda t: _sign(t, "declare_mtd", mtd_level=2, reason="r"),
    ),
    (
        "dose_not_eliminated",
        lambda: _at_level_2_after("TTN"),
        lambda t: _sign(t, "eliminate-and-de-escalate", reason="r"),
    ),
    (
        "no_such_level",
        _top_of_two,
        lambda t: _sign(t, "escalate", reason="r"),
    ),
    ("reason_required", lambda: _at_level_2_after("NTN"), lambda t: _sign(t, "de-escalate")),
    (
        "mtd_level_with_declare_mtd",
        lambda: _at_level_2_after("NTN"),
        lambda t: _sign(t, "stay", mtd_level=2),
    ),
]


@pytest.mark.parametrize(
    ("rule", "setup", "command"), REFUSALS, ids=[f"{i}-{r[0]}" for i, r in enumerate(REFUSALS)]
)
def test_refused_interval_decisions_trigger_no_event(
    rule: str, setup: Callable[[], Trial], command: Callable[[Trial], object]
) -> None:
    assert refused_without_event(setup(), command) == rule


@pytest.mark.parametrize("decision", ["expand", "jump"])
def test_a_decision_outside_the_interval_vocabulary_is_invalid_input(decision: str) -> None:
    trial = _at_level_2_after("NTN")
    before = len(trial.pending_events)
    with pytest.raises(InvalidInput, match="not one of the boin design's"):
        _sign(trial, decision, reason="r")
    assert len(trial.pending_events) == before


@pytest.mark.parametrize("decision", ["stay", "eliminate-and-de-escalate"])
def test_a_3_3_trial_keeps_its_own_vocabulary(decision: str) -> None:
    trial = new_trial(3)
    run_cohort(trial, "NTN")
    before = len(trial.pending_events)
    with pytest.raises(InvalidInput, match="unknown decision"):
        _sign(trial, decision, reason="r")
    assert len(trial.pending_events) == before
