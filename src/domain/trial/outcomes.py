# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Trial``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Trial. That report is the only [misc] in the module.
"""The Trial's DLT-window outcome commands: outcomes, DLT candidates, revisions.

A mixin of :class:`~domain.trial.aggregate.Trial` (the events and the state they build live there;
the aggregate's metaclass needs its ``@event`` methods on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.cohort import Outcome
from domain.errors import CommandRefused, InvalidInput
from domain.trial.decision_rules import check_signed

if TYPE_CHECKING:
    from domain.trial.aggregate import Trial


class OutcomeCommands:
    """Each patient's DLT-window outcome reaching the cohort, and what follows a late change."""

    def record_outcome(
        self: Trial,
        patient_id: UUID,
        outcome: Outcome,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str = "",
        reason: str = "",
    ) -> None:
        """Record one patient's DLT-window outcome on the cohort (DLT, no DLT, not evaluable)."""
        self._check_escalating()
        cohort = self._check_patient(patient_id)
        dlts_before = cohort.dlts
        common: dict[str, Any] = {
            "patient_id": patient_id,
            "cohort": cohort.number,
            "level": cohort.level,
            "clinical_date": clinical_date,
            "actor": actor.as_record(),
        }
        if outcome == "dlt":
            if not description.strip():
                raise CommandRefused(
                    "a DLT needs a description (the adverse event and its grade)",
                    rule="dlt_description_required",
                    field="description",
                )
            self._dlt_observed(description=description, **common)
        elif outcome == "no_dlt":
            if patient_id in cohort.candidates:
                raise CommandRefused(
                    f"patient {patient_id} has a DLT candidate awaiting SRC adjudication",
                    rule="dlt_candidate_pending",
                    field="patient_id",
                )
            self._window_completed(**common)
        else:
            if not reason.strip():
                raise CommandRefused(
                    "a non-evaluable patient needs a reason (why the window was not completed)",
                    rule="reason_required",
                    field="reason",
                )
            self._not_evaluable(reason=reason, **common)
        if self.decided(cohort.number) and cohort.dlts != dlts_before:
            # An outcome reached a cohort already decided (a window reopened for a late DLT
            # candidate, then confirmed): the decision was made on other counts.
            self._flagged(
                cohort=cohort.number,
                level=cohort.level,
                old_dlts=dlts_before,
                new_dlts=cohort.dlts,
                reason=f"outcome of patient {patient_id} recorded after the decision",
                actor=actor.as_record(),
            )

    def raise_dlt_candidate(
        self: Trial,
        patient_id: UUID,
        ae_id: UUID,
        clinical_date: dt.date,
        actor: Actor,
        *,
        description: str,
        criterion: str,
    ) -> None:
        """Put an exception-class AE before the SRC as a possible DLT."""
        self._check_escalating()
        cohort = self._check_patient(patient_id)
        self._candidate_raised(
            patient_id=patient_id,
            ae_id=ae_id,
            cohort=cohort.number,
            level=cohort.level,
            clinical_date=clinical_date,
            description=description,
            criterion=criterion,
            actor=actor.as_record(),
        )

    def adjudicate_dlt_candidate(
        self: Trial,
        patient_id: UUID,
        ae_id: UUID,
        confirmed: bool,
        signer: Actor,
        *,
        reason: str,
        clinical_date: dt.date | None = None,
        description: str = "",
        meaning: str = "approval",
    ) -> None:
        """An SRC member confirms (a DLT on the cohort) or rejects a DLT candidate."""
        self._check_escalating()
        if patient_id not in self.patient_cohort or ae_id not in self._cohort_of(
            patient_id
        ).candidates.get(patient_id, []):
            raise CommandRefused(
                f"AE {ae_id} of patient {patient_id} is not a DLT candidate awaiting adjudication",
                rule="no_such_candidate",
                field="ae_id",
            )
        check_signed(signer, "a DLT adjudication", reason)
        self._candidate_adjudicated(
            patient_id=patient_id,
            ae_id=ae_id,
            confirmed=confirmed,
            meaning=meaning,
            reason=reason,
            actor=signer.as_record(),
        )
        if confirmed:
            if clinical_date is None:
                raise InvalidInput("a confirmed DLT needs its clinical date", field="clinical_date")
            self.record_outcome(patient_id, "dlt", clinical_date, signer, description=description)

    def revise_outcome(
        self: Trial,
        patient_id: UUID,
        new_outcome: Outcome | None,
        actor: Actor,
        *,
        reason: str,
        clinical_date: dt.date | None = None,
    ) -> bool:
        """Corrected facts changed a patient's outcome: the cohort follows, and a decision
        already signed on it is flagged for re-review. Returns True when one was flagged."""
        if patient_id not in self.patient_cohort:
            raise CommandRefused(
                f"patient {patient_id} is not enrolled in trial {self.id}",
                rule="patient_not_in_trial",
                field="patient_id",
            )
        cohort = self._cohort_of(patient_id)
        old = cohort.outcomes.get(patient_id)
        if old == new_outcome:
            return False
        old_dlts = cohort.dlts
        self._outcome_revised(
            patient_id=patient_id,
            cohort=cohort.number,
            level=cohort.level,
            old_outcome=old,
            new_outcome=new_outcome,
            clinical_date=clinical_date,
            reason=reason,
            actor=actor.as_record(),
        )
        if self.decided(cohort.number) and cohort.dlts != old_dlts:
            self._flagged(
                cohort=cohort.number,
                level=cohort.level,
                old_dlts=old_dlts,
                new_dlts=cohort.dlts,
                reason=reason,
                actor=actor.as_record(),
            )
            return True
        return False
