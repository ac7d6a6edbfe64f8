# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Trial``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Trial. That report is the only [misc] in the module.
"""The Trial's SRC decision commands: sign a decision on the open cohort, re-review one.

A mixin of :class:`~domain.trial.aggregate.Trial`. What a decision may be is pure and lives in
``decision_rules``; here the decision is checked against the trial's state and acted on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.actors import Actor
from domain.cohort import CohortOrigin
from domain.errors import CommandRefused, InvalidInput
from domain.protocol_design import ThreePlusThree
from domain.trial.citations import check_packet_sha256
from domain.trial.decision_rules import (
    REVIEW_OUTCOMES,
    check_decision,
    check_signed,
    check_signer,
    recommended_decision,
)
from domain.trial.interval_rules import check_interval_decision

if TYPE_CHECKING:
    from domain.trial.aggregate import Trial

_ORIGINS: dict[str, CohortOrigin] = {"escalate": "escalation", "stay": "stay"}


class DecisionCommands:
    """The SRC's signed decisions: each one acted on (a cohort opened, an MTD, a stop)."""

    def sign_decision(
        self: Trial,
        cohort: int,
        decision: str,
        signer: Actor,
        *,
        meaning: str,
        mtd_level: int | None = None,
        reason: str | None = None,
        packet_sha256: str | None = None,
    ) -> None:
        """Record the SRC's signed decision on a fully evaluated cohort, and act on it;
        ``packet_sha256``: the SRC packet it was made on, when cited."""
        check_packet_sha256(packet_sha256)
        self._check_escalating()
        open_cohort = self.open_cohort
        if cohort != open_cohort.number:
            raise CommandRefused(
                f"cohort {cohort} is not the open cohort (cohort {open_cohort.number} is)",
                rule="not_open_cohort",
                field="cohort",
            )
        if not open_cohort.fully_evaluated:
            raise CommandRefused(
                f"cohort {cohort} is not fully evaluated: "
                f"{open_cohort.open_places} place(s) to fill, "
                f"{len(open_cohort.awaiting_outcome)} outcome(s) awaited, "
                f"{open_cohort.pending_candidates} DLT candidate(s) to adjudicate",
                rule="cohort_not_evaluated",
                field="cohort",
            )
        check_signer(signer, "an escalation decision")
        if not meaning.strip():
            raise CommandRefused(
                "a signature needs its meaning (e.g. 'approval')",
                rule="meaning_required",
                field="meaning",
            )
        design = self.protocol.design
        if not isinstance(design, ThreePlusThree):
            target = check_interval_decision(
                decision, mtd_level, self.cohorts, design, self.protocol.num_levels
            )
        else:
            target = check_decision(decision, mtd_level, self.cohorts, self.protocol)
        rec = self.recommendation()
        departs = rec is None or recommended_decision(rec) != (decision, target)
        if departs and not (reason and reason.strip()):
            expected = "none (the path is no longer 3+3)" if rec is None else rec.action
            raise CommandRefused(
                f"decision '{decision}' departs from the recommendation ({expected}); "
                "a reason is required",
                rule="reason_required",
                field="reason",
            )
        actor_record = signer.as_record()
        self._decision_signed(
            cohort=cohort,
            level=open_cohort.level,
            outcomes=self.outcome_string(),
            recommendation=None if rec is None else {**rec.as_json(), "action": rec.action},
            decision=decision,
            mtd_level=mtd_level,
            meaning=meaning,
            reason=reason,
            actor=actor_record,
            packet_sha256=packet_sha256,
        )
        self._act_on(decision, target, actor_record, reason)

    def _act_on(
        self: Trial, decision: str, target: int | None, actor: dict[str, Any], reason: str | None
    ) -> None:
        number = len(self.cohorts) + 1
        if decision == "declare_mtd":
            assert target is not None
            label = self.protocol.dose_level(target).label
            self._mtd_declared(level=target, dose_label=label, actor=actor)
        elif decision == "stop_no_mtd":
            self._stopped(reason=reason or "no tolerable dose level", actor=actor)
        elif decision == "expand":
            assert target is not None
            self._cohort_expanded(cohort=number, level=target, actor=actor)
        else:
            # escalate, stay (interval designs: another cohort at the same level), de-escalate
            # and eliminate-and-de-escalate (both "de-escalation").
            assert target is not None
            origin: CohortOrigin = _ORIGINS.get(decision, "de-escalation")
            self._cohort_opened(cohort=number, level=target, origin=origin, actor=actor)

    def review_decision(
        self: Trial,
        cohort: int,
        outcome: str,
        signer: Actor,
        *,
        reason: str,
        meaning: str = "review",
    ) -> None:
        """The SRC's signed re-review of a decision that corrected facts flagged."""
        if outcome not in REVIEW_OUTCOMES:
            raise InvalidInput(
                f"unknown review outcome '{outcome}'; outcomes: {', '.join(REVIEW_OUTCOMES)}",
                field="outcome",
            )
        if cohort not in self.flagged_for_review:
            raise CommandRefused(
                f"the decision on cohort {cohort} is not flagged for re-review",
                rule="not_flagged_for_review",
                field="cohort",
            )
        check_signed(signer, "a re-review", reason)
        self._reviewed(
            cohort=cohort,
            outcome=outcome,
            meaning=meaning,
            reason=reason.strip(),
            actor=signer.as_record(),
        )
