"""Random sequences of commands on a BOIN trial: the design's safety rules always hold.

Enrolments, DLT-window outcomes (DLT, no DLT, not evaluable) and SRC decisions, some following
the recommendation and some any decision of the vocabulary (with a reason), in any order. After
every step: the open cohort is never at an eliminated dose nor above the top; the trial's
recommendation is the pure engine's for the same outcome string; a declared MTD was given and
is not eliminated; a refused command appended nothing.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.designs.interval_designs import eliminated_levels, recommend_text
from domain.errors import DomainError
from domain.protocol_design import BoinDesign
from domain.trial import DECISIONS, Trial
from domain.trial.interval_rules import evaluated_counts
from support import DAY0, INVESTIGATOR, SRC, interval_trial


class BoinTrialMachine(RuleBasedStateMachine):
    """A BOIN trial driven by random commands."""

    trial: Trial

    @initialize(
        levels=st.integers(1, 5),
        rate=st.sampled_from([0.2, 0.25, 0.3]),
        cohort_size=st.integers(1, 3),
        cohorts=st.integers(2, 8),
        n_earlystop=st.sampled_from([6, 9, 100]),
    )
    def register(
        self, levels: int, rate: float, cohort_size: int, cohorts: int, n_earlystop: int
    ) -> None:
        self.trial = interval_trial(
            levels,
            target=rate,
            cohort_size=cohort_size,
            max_n=cohort_size * cohorts,
            n_earlystop=n_earlystop,
        )
        self.subjects = 0

    @property
    def design(self) -> BoinDesign:
        design = self.trial.protocol.design
        assert isinstance(design, BoinDesign)
        return design

    def _attempt(self, command: object) -> bool:
        """Run a command; a refusal must leave the trial as it was."""
        before = (len(self.trial.pending_events), self.trial.version)
        try:
            command()  # type: ignore[operator]
        except DomainError:
            assert (len(self.trial.pending_events), self.trial.version) == before
            return False
        return True

    @rule()
    def enrol(self) -> None:
        self.subjects += 1
        subject = f"S-{self.subjects:04d}"
        self._attempt(lambda: self.trial.enrol(uuid4(), subject, "S01", INVESTIGATOR))

    @rule(outcome=st.sampled_from(["dlt", "no_dlt", "no_dlt", "not_evaluable"]), data=st.data())
    def record_outcome(self, outcome: str, data: st.DataObject) -> None:
        awaiting: list[UUID] = self.trial.open_cohort.awaiting_outcome
        if not awaiting:
            return
        patient = data.draw(st.sampled_from(awaiting))
        self._attempt(
            lambda: self.trial.record_outcome(
                patient,
                outcome,  # type: ignore[arg-type]
                DAY0,
                INVESTIGATOR,
                description="Grade 3 fatigue",
                reason="withdrew",
            )
        )

    @rule(outcomes=st.lists(st.sampled_from(["dlt", "no_dlt", "no_dlt"]), min_size=3, max_size=3))
    def complete_the_open_cohort(self, outcomes: list[str]) -> None:
        """Fill the open cohort and give every awaiting patient an outcome."""
        if self.trial.status != "escalating":
            return
        while self.trial.open_cohort.open_places > 0:
            self.enrol()
        for patient, outcome in zip(
            self.trial.open_cohort.awaiting_outcome, outcomes * 4, strict=False
        ):
            self.trial.record_outcome(
                patient,
                outcome,
                DAY0,
                INVESTIGATOR,
                description="Grade 3 fatigue",  # type: ignore[arg-type]
            )

    @rule()
    def follow_the_recommendation(self) -> None:
        rec = self.trial.recommendation()
        if rec is None:
            return
        mtd = rec.mtd if rec.action == "declare_mtd" else None
        signed = self._attempt(
            lambda: self.trial.sign_decision(
                self.trial.open_cohort.number, rec.action, SRC, meaning="approval", mtd_level=mtd
            )
        )
        assert signed, f"the trial refused its own recommendation {rec}"
        event(f"recommended {rec.action}")

    @rule(decision=st.sampled_from(DECISIONS), mtd_level=st.integers(1, 5))
    def depart(self, decision: str, mtd_level: int) -> None:
        signed = self._attempt(
            lambda: self.trial.sign_decision(
                self.trial.open_cohort.number,
                decision,
                SRC,
                meaning="approval",
                mtd_level=mtd_level if decision == "declare_mtd" else None,
                reason="the SRC's own judgement",
            )
        )
        event(f"departure {decision} " + ("signed" if signed else "refused"))

    def _eliminated(self) -> tuple[int, ...]:
        patients, dlts = evaluated_counts(self.trial.cohorts, self.trial.protocol.num_levels)
        return eliminated_levels(self.design.engine(), patients, dlts)

    @invariant()
    def never_at_an_eliminated_dose_nor_above_the_top(self) -> None:
        for cohort in self.trial.cohorts[1:]:
            assert 1 <= cohort.level <= self.trial.protocol.num_levels
        if self.trial.status == "escalating" and len(self.trial.cohorts) > 1:
            # The open cohort was opened by a decision: never at a dose eliminated by then
            # (its own patients may have eliminated it since).
            earlier = self.trial.cohorts[:-1]
            patients, dlts = evaluated_counts(earlier, self.trial.protocol.num_levels)
            before = eliminated_levels(self.design.engine(), patients, dlts)
            assert self.trial.open_cohort.level not in before

    @invariant()
    def the_recommendation_is_the_engines(self) -> None:
        rec = self.trial.recommendation()
        if rec is None:
            return
        pure = recommend_text(
            self.trial.outcome_string(), self.trial.protocol.num_levels, self.design.engine()
        )
        assert (rec.next_dose, rec.continue_trial, rec.mtd, rec.eliminated) == (
            pure.next_dose,
            pure.continue_trial,
            pure.mtd,
            pure.eliminated,
        )
        expected = pure.action
        if pure.action == "de-escalate" and self.trial.current_level in pure.eliminated:
            expected = "eliminate-and-de-escalate"
        assert rec.action == expected

    @invariant()
    def a_declared_mtd_was_given_and_is_not_eliminated(self) -> None:
        if self.trial.mtd is not None:
            assert self.trial.mtd not in self._eliminated()
            assert any(c.level == self.trial.mtd and c.evaluable for c in self.trial.cohorts)


BoinTrialMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_commands_on_a_boin_trial_keep_the_design_safe = BoinTrialMachine.TestCase
