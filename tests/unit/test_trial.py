"""The Trial aggregate: cohorts, outcomes, 3+3 recommendations, SRC decisions and their guards."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from domain.actors import Actor
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import Protocol, template
from domain.trial import Trial
from support import (
    ADMIN,
    DAY0,
    INVESTIGATOR,
    SRC,
    follow_recommendation,
    new_trial,
    old_pembrolizumab_gemcitabine_template,
    refused_without_event,
    replay,
    run_cohort,
)


def test_registration_opens_cohort_one_at_the_starting_level() -> None:
    trial = new_trial(3)
    assert (trial.status, trial.current_level, len(trial.cohorts)) == ("escalating", 1, 1)
    assert trial.open_cohort.origin == "start"
    assert trial.recommendation() is None


def test_classic_escalation_to_mtd() -> None:
    trial = new_trial(3, deescalate=False)
    run_cohort(trial, "NNN")
    assert follow_recommendation(trial) == "escalate"
    run_cohort(trial, "NTN")
    assert follow_recommendation(trial) == "expand"
    assert trial.cohorts[-1].origin == "expansion"
    run_cohort(trial, "NNN")
    assert follow_recommendation(trial) == "escalate"
    run_cohort(trial, "TTN")
    assert follow_recommendation(trial) == "declare_mtd"
    assert (trial.status, trial.mtd) == ("mtd_declared", 2)
    assert trial.outcome_string() == "1NNN 2NTN 2NNN 3TTN"
    assert [d["decision"] for d in trial.decisions] == [
        "escalate",
        "expand",
        "escalate",
        "declare_mtd",
    ]


def test_deescalation_goes_back_to_expand_the_previous_level() -> None:
    trial = new_trial(3, deescalate=True)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "TTN")
    assert follow_recommendation(trial) == "de-escalate"
    assert (trial.current_level, trial.open_cohort.origin) == (1, "de-escalation")
    run_cohort(trial, "NTN")
    assert follow_recommendation(trial) == "declare_mtd"
    assert trial.mtd == 1


def test_two_dlts_at_the_lowest_level_stop_without_mtd() -> None:
    trial = new_trial(3)
    run_cohort(trial, "TNT")
    assert follow_recommendation(trial) == "stop_no_mtd"
    assert (trial.status, trial.mtd) == ("stopped", None)


def test_non_evaluable_patient_is_replaced_and_does_not_count() -> None:
    trial = new_trial(2)
    dropped = run_cohort(trial, "X")[0]
    assert trial.open_cohort.open_places == 3
    replacement = uuid4()
    trial.enrol(replacement, "S-R1", "S01", INVESTIGATOR)
    assert trial.pending_events[-1].replaces == dropped  # type: ignore[attr-defined]
    trial.record_outcome(replacement, "no_dlt", DAY0, INVESTIGATOR)
    run_cohort(trial, "NN")
    assert trial.open_cohort.fully_evaluated
    assert trial.outcome_string() == "1NNN"
    rec = trial.recommendation()
    assert rec is not None and rec.action == "escalate"


def test_replay_from_events_gives_the_same_state() -> None:
    trial = new_trial(3)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "NTXN")
    rebuilt = replay(trial)
    assert rebuilt.outcome_string() == trial.outcome_string()
    assert rebuilt.cohorts == trial.cohorts
    assert rebuilt.decisions == trial.decisions
    assert rebuilt.version == trial.version


def test_departing_from_the_recommendation_needs_a_reason_and_records_it() -> None:
    trial = new_trial(3)
    run_cohort(trial, "NNN")
    with pytest.raises(CommandRefused, match="departs from the recommendation") as caught:
        trial.sign_decision(1, "expand", SRC, meaning="approval")
    assert caught.value.rule == "reason_required"
    trial.sign_decision(1, "expand", SRC, meaning="approval", reason="PK exposure unclear")
    decision = trial.decisions[-1]
    assert decision["recommendation"]["action"] == "escalate"
    assert decision["reason"] == "PK exposure unclear"
    assert decision["signer"]["user_id"] == "src-1"


def test_after_a_departure_off_the_3_3_path_the_src_decides_with_reasons() -> None:
    trial = new_trial(3, deescalate=False)
    run_cohort(trial, "NNN")
    trial.sign_decision(1, "expand", SRC, meaning="approval", reason="sponsor request")
    run_cohort(trial, "NNN")  # 0/6 at level 1 is not a classic 3+3 path
    assert trial.recommendation() is None
    with pytest.raises(CommandRefused, match="reason is required"):
        trial.sign_decision(2, "escalate", SRC, meaning="approval")
    trial.sign_decision(2, "escalate", SRC, meaning="approval", reason="back on protocol")
    assert trial.current_level == 2


def _full_trial() -> Trial:
    trial = new_trial(2)
    run_cohort(trial, "NNN")
    return trial


def _stopped_trial() -> Trial:
    trial = new_trial(2)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    assert trial.status == "mtd_declared"
    return trial


def _with_patient(outcome: str | None = None) -> Trial:
    trial = new_trial(2)
    trial.enrol(uuid4(), "S-1", "S01", INVESTIGATOR)
    if outcome:
        trial.record_outcome(trial.open_cohort.patients[0], outcome, DAY0, INVESTIGATOR)
    return trial


def _two_evaluated() -> Trial:
    trial = new_trial(2)
    run_cohort(trial, "NN")
    return trial


def _first(trial: Trial) -> UUID:
    return trial.open_cohort.patients[0]


REFUSALS: list[tuple[str, Callable[[], Trial], Callable[[Trial], object]]] = [
    ("cohort_full", _full_trial, lambda t: t.enrol(uuid4(), "S-X", "S01", INVESTIGATOR)),
    ("subject_id_taken", _with_patient, lambda t: t.enrol(uuid4(), "S-1", "S01", INVESTIGATOR)),
    (
        "cohort_not_evaluated",
        _two_evaluated,
        lambda t: t.sign_decision(1, "escalate", SRC, meaning="approval"),
    ),
    (
        "signer_role",
        _full_trial,
        lambda t: t.sign_decision(1, "escalate", INVESTIGATOR, meaning="approval"),
    ),
    ("meaning_required", _full_trial, lambda t: t.sign_decision(1, "escalate", SRC, meaning=" ")),
    (
        "not_open_cohort",
        _full_trial,
        lambda t: t.sign_decision(2, "escalate", SRC, meaning="approval"),
    ),
    (
        "no_such_level",
        _full_trial,
        lambda t: t.sign_decision(1, "de-escalate", SRC, meaning="approval", reason="r"),
    ),
    (
        "mtd_untested",
        _full_trial,
        lambda t: t.sign_decision(
            1, "declare_mtd", SRC, meaning="approval", mtd_level=2, reason="r"
        ),
    ),
    (
        "mtd_level_with_declare_mtd",
        _full_trial,
        lambda t: t.sign_decision(1, "escalate", SRC, meaning="approval", mtd_level=2),
    ),
    ("trial_stopped", _stopped_trial, lambda t: t.enrol(uuid4(), "S-late", "S01", INVESTIGATOR)),
    (
        "trial_stopped",
        _stopped_trial,
        lambda t: t.sign_decision(2, "escalate", SRC, meaning="approval", reason="r"),
    ),
    (
        "patient_not_in_trial",
        _with_patient,
        lambda t: t.record_outcome(uuid4(), "dlt", DAY0, INVESTIGATOR, description="x"),
    ),
    (
        "dlt_description_required",
        _with_patient,
        lambda t: t.record_outcome(_first(t), "dlt", DAY0, INVESTIGATOR),
    ),
    (
        "reason_required",
        _with_patient,
        lambda t: t.record_outcome(_first(t), "not_evaluable", DAY0, INVESTIGATOR),
    ),
    (
        "outcome_already_recorded",
        lambda: _with_patient("no_dlt"),
        lambda t: t.record_outcome(_first(t), "no_dlt", DAY0, INVESTIGATOR),
    ),
]


@pytest.mark.parametrize(
    ("rule", "setup", "command"), REFUSALS, ids=[f"{i}-{r[0]}" for i, r in enumerate(REFUSALS)]
)
def test_refused_commands_trigger_no_event(
    rule: str, setup: Callable[[], Trial], command: Callable[[Trial], object]
) -> None:
    assert refused_without_event(setup(), command) == rule


def test_a_level_never_takes_more_than_six_patients() -> None:
    trial = new_trial(2, deescalate=False)
    run_cohort(trial, "NTN")
    follow_recommendation(trial)
    run_cohort(trial, "NNN")
    with pytest.raises(CommandRefused) as caught:
        trial.sign_decision(2, "expand", SRC, meaning="approval", reason="more data")
    assert caught.value.rule == "level_full"


def test_declaring_a_level_with_two_dlts_as_mtd_is_refused() -> None:
    trial = new_trial(2, deescalate=False)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "TTN")
    with pytest.raises(CommandRefused) as caught:
        trial.sign_decision(2, "declare_mtd", SRC, meaning="approval", mtd_level=2, reason="r")
    assert caught.value.rule == "mtd_not_tolerated"


def test_unknown_decision_is_invalid_input() -> None:
    trial = _full_trial()
    with pytest.raises(InvalidInput, match="unknown decision 'go-up'"):
        trial.sign_decision(1, "go-up", SRC, meaning="approval")


def test_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown role"):
        Actor(user_id="x", role="sponsor")


# ------------------------------------------------------------------ registration


def test_registration_refuses_a_protocol_whose_levels_are_not_ordered() -> None:
    unordered = Protocol.model_validate(old_pembrolizumab_gemcitabine_template())
    with pytest.raises(InvalidInput) as caught:
        Trial.register(uuid4(), unordered, "t", ADMIN)
    assert caught.value.message == (
        "dose_levels.3: gemcitabine goes down from DL3 (1000 mg/m2) to DL4 (800 mg/m2)"
    )
    trial = Trial.register(uuid4(), template("defactinib-pembrolizumab-gemcitabine"), "t", ADMIN)
    assert trial.protocol.dose_level(4).dose_of("gemcitabine").amount == 800


def test_a_trial_stored_with_the_old_unordered_template_still_replays() -> None:
    # The Registered event as trials recorded it before levels had to be ordered.
    old = old_pembrolizumab_gemcitabine_template()
    trial = Trial(id=uuid4(), protocol=old, name="old", actor=ADMIN.as_record())
    run_cohort(trial, "NNN")
    rebuilt = replay(trial)
    assert rebuilt.protocol.dose_level(3).dose_of("gemcitabine").amount == 1000
    assert [d.label for d in rebuilt.protocol.reduction_ladders["defactinib"]] == [
        "defactinib 400 mg BID",
        "defactinib 200 mg BID",
    ]
    assert rebuilt.outcome_string() == "1NNN"


# ------------------------------------------------------------------ starting above level 1


@pytest.mark.parametrize("deescalate", [False, True])
def test_two_dlts_at_a_starting_level_2_de_escalate_to_level_1(deescalate: bool) -> None:
    trial = new_trial(3, deescalate=deescalate, starting_level=2)
    run_cohort(trial, "TTN")
    rec = trial.recommendation()
    assert rec is not None and (rec.action, rec.next_dose, rec.mtd) == ("de-escalate", 1, None)
    assert follow_recommendation(trial) == "de-escalate"  # was declare_mtd, refused mtd_untested
    assert (trial.current_level, trial.open_cohort.origin) == (1, "de-escalation")
    run_cohort(trial, "NNN")
    if deescalate:
        assert follow_recommendation(trial) == "expand"  # Korn: 6 patients before an MTD
        run_cohort(trial, "NNN")
    assert follow_recommendation(trial) == "declare_mtd"
    assert (trial.status, trial.mtd, trial.patients_at(1)) == (
        "mtd_declared",
        1,
        6 if deescalate else 3,
    )


@pytest.mark.parametrize("deescalate", [False, True])
def test_a_trial_started_at_level_3_comes_down_one_untried_level_at_a_time(
    deescalate: bool,
) -> None:
    trial = new_trial(3, deescalate=deescalate, starting_level=3)
    run_cohort(trial, "TTN")
    assert follow_recommendation(trial) == "de-escalate"
    run_cohort(trial, "TTN")
    assert follow_recommendation(trial) == "de-escalate"
    assert trial.current_level == 1
    run_cohort(trial, "TNT")
    assert follow_recommendation(trial) == "stop_no_mtd"
    assert trial.outcome_string() == "3TTN 2TTN 1TNT"


# ------------------------------------------------------------------ SRC departures (domain.md §8)


def _exceeded_at_level_2(deescalate: bool = True) -> Trial:
    trial = new_trial(4, deescalate=deescalate)
    run_cohort(trial, "NNN")
    follow_recommendation(trial)
    run_cohort(trial, "TTN")
    return trial


def _refused(trial: Trial, rule: str, decision: str, **kwargs: object) -> None:
    before = (len(trial.pending_events), trial.version, len(trial.decisions))
    with pytest.raises(CommandRefused) as caught:
        trial.sign_decision(
            trial.open_cohort.number, decision, SRC, meaning="approval", reason="SRC view", **kwargs
        )
    assert caught.value.rule == rule
    assert (len(trial.pending_events), trial.version, len(trial.decisions)) == before


@pytest.mark.parametrize("deescalate", [False, True])
def test_the_src_cannot_escalate_from_a_level_where_the_mtd_was_exceeded(
    deescalate: bool,
) -> None:
    trial = _exceeded_at_level_2(deescalate)
    _refused(trial, "escalation_after_mtd_exceeded", "escalate")
    assert trial.current_level == 2


def test_the_src_cannot_escalate_back_into_an_exceeded_level() -> None:
    trial = _exceeded_at_level_2()
    assert follow_recommendation(trial) == "de-escalate"
    run_cohort(trial, "NNN")
    _refused(trial, "escalation_after_mtd_exceeded", "escalate")


def test_the_src_cannot_declare_the_exceeded_level_the_mtd() -> None:
    _refused(_exceeded_at_level_2(), "mtd_not_tolerated", "declare_mtd", mtd_level=2)


def test_the_src_cannot_declare_an_mtd_above_an_exceeded_level() -> None:
    trial = new_trial(4)
    for _ in range(2):
        run_cohort(trial, "NNN")
        follow_recommendation(trial)  # escalate to 2, then 3
    run_cohort(trial, "NNN")
    trial.sign_decision(3, "de-escalate", SRC, meaning="approval", reason="late toxicity seen")
    run_cohort(trial, "TTN")  # level 2: 2/6, exceeded below the tested level 3
    assert trial.lowest_exceeded_level == 2
    _refused(trial, "mtd_above_exceeded_level", "declare_mtd", mtd_level=3)
    _refused(trial, "mtd_not_tolerated", "declare_mtd", mtd_level=2)
    _refused(trial, "escalation_after_mtd_exceeded", "escalate")
    trial.sign_decision(4, "declare_mtd", SRC, meaning="approval", mtd_level=1, reason="r")
    assert (trial.status, trial.mtd) == ("mtd_declared", 1)


def test_conservative_departures_stay_allowed_with_a_reason() -> None:
    trial = _exceeded_at_level_2(deescalate=False)  # recommendation: MTD 1
    trial.sign_decision(
        trial.open_cohort.number, "stop_no_mtd", SRC, meaning="approval", reason="SRC view"
    )
    assert trial.status == "stopped"
    trial = new_trial(3)
    run_cohort(trial, "NNN")  # recommendation: escalate
    trial.sign_decision(1, "expand", SRC, meaning="approval", reason="PK unclear")
    run_cohort(trial, "NTN")  # 1/6: recommendation escalate
    trial.sign_decision(2, "stop_no_mtd", SRC, meaning="approval", reason="SRC view")
    assert trial.status == "stopped"
