# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's DLT-window commands: candidates before the SRC, closing and revising the window.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

from domain.actors import Actor
from domain.adverse_event import AdverseEvent
from domain.cohort import OUTCOMES
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import Schedule

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


class DltWindowCommands:
    """The DLT window's outcome: a DLT, completion without one, or not evaluable."""

    def reject_dlt_candidate(self: Patient, ae_id: UUID, reason: str, actor: Actor) -> None:
        """The SRC decided an exception-class AE is not a DLT."""
        self._check_candidate(ae_id)
        self._dlt_candidate_rejected(ae_id=ae_id, reason=reason, actor=actor.as_record())

    def _check_candidate(self: Patient, ae_id: UUID) -> None:
        if ae_id not in self.dlt_candidates:
            raise CommandRefused(
                f"AE {ae_id} of subject {self.subject_id} is not a DLT candidate awaiting "
                "adjudication",
                rule="no_such_candidate",
                field="ae_id",
            )

    def confirm_dlt_candidate(self: Patient, ae_id: UUID, actor: Actor) -> str:
        """The SRC confirmed a candidate: the DLT window closes with a DLT; returns its text."""
        self._check_candidate(ae_id)
        ae = self.adverse_events[ae_id]
        description = f"{ae.term}, grade {ae.worst_grade} (AE {ae_id}, confirmed by the SRC)"
        self._dlt_window_closed(
            outcome="dlt",
            clinical_date=ae.dlt_reached_on or ae.onset,
            description=description,
            reason="",
            doses_taken_fraction=None,
            actor=actor.as_record(),
        )
        return description

    def record_dlt(self: Patient, ae_id: UUID, actor: Actor, *, description: str) -> None:
        """Close the window with the DLT an AE's verdict names (dated when it reached it)."""
        ae = self.adverse_event(ae_id)
        if ae.dlt_verdict != "dlt" or self.dlt_outcome is not None:
            raise CommandRefused(
                f"AE {ae_id} is not a DLT for an open window", rule="not_a_dlt", field="ae_id"
            )
        self._dlt_window_closed(
            outcome="dlt",
            clinical_date=ae.dlt_reached_on or ae.onset,
            description=description,
            reason="",
            doses_taken_fraction=None,
            actor=actor.as_record(),
        )

    def close_dlt_window(
        self: Patient,
        outcome: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        schedule: Schedule,
        min_dose_fraction: float,
        description: str = "",
        reason: str = "",
        doses_taken_fraction: float | None = None,
    ) -> float | None:
        """Record the DLT-window outcome: a DLT, completion without DLT, or not evaluable.
        Completion is evaluable only with the share of planned doses the record shows; a
        claimed share that disagrees is refused. Returns the share recorded."""
        if outcome not in OUTCOMES:
            raise InvalidInput(
                f"unknown DLT-window outcome '{outcome}'; outcomes: {', '.join(OUTCOMES)}",
                field="outcome",
            )
        if self.dlt_outcome is not None:
            raise CommandRefused(
                f"subject {self.subject_id}'s DLT window already closed "
                f"({self.dlt_outcome.replace('_', ' ')})",
                rule="outcome_already_recorded",
            )
        if doses_taken_fraction is not None and not 0 <= doses_taken_fraction <= 1:
            raise InvalidInput(
                f"doses taken fraction {doses_taken_fraction} is not between 0 and 1",
                field="doses_taken_fraction",
            )
        self._check_date(clinical_date, today)
        if outcome != "not_evaluable":
            self._check_in_window(outcome, clinical_date)
        share = self.dose_share(schedule)
        if outcome == "no_dlt":
            assert share is not None  # _check_in_window refused a patient not dosing
            if self.dlt_candidates:
                raise CommandRefused(
                    f"subject {self.subject_id} has a DLT candidate awaiting SRC adjudication",
                    rule="dlt_candidate_pending",
                )
            if doses_taken_fraction is not None and not share.agrees_with(doses_taken_fraction):
                raise CommandRefused(
                    f"the record shows {share.taken} of {share.planned} planned doses taken "
                    f"({share.fraction:.0%}: {share.withheld} withheld, {share.missed} missed), "
                    f"not {doses_taken_fraction:.0%}",
                    rule="dose_fraction_disagrees",
                    field="doses_taken_fraction",
                )
            if share.fraction < min_dose_fraction:
                raise CommandRefused(
                    f"subject {self.subject_id} took {share.fraction:.0%} of planned doses "
                    f"({share.taken} of {share.planned}), under the {min_dose_fraction:.0%} "
                    "needed to be evaluable without a DLT; record the patient as not evaluable",
                    rule="not_evaluable_dose_fraction",
                    field="doses_taken_fraction",
                )
        fraction = None if share is None or outcome == "dlt" else round(share.fraction, 4)
        self._dlt_window_closed(
            outcome=outcome,
            clinical_date=clinical_date,
            description=description,
            reason=reason,
            doses_taken_fraction=fraction,
            actor=actor.as_record(),
        )
        return fraction

    def _check_in_window(self: Patient, outcome: str, clinical_date: dt.date) -> None:
        first, last = self.first_dose_date, self.dlt_window_last_day
        if first is None or last is None:
            raise CommandRefused(
                f"subject {self.subject_id} has not started dosing; "
                "only 'not_evaluable' can be recorded",
                rule="dosing_not_started",
                field="outcome",
            )
        if clinical_date < first:
            raise CommandRefused(
                f"{clinical_date} is before the first dose ({first})",
                rule="date_before_first_dose",
                field="clinical_date",
            )
        if outcome == "dlt" and clinical_date > last:
            raise CommandRefused(
                f"{clinical_date} is after the DLT window (day 1 {first} to {last}); "
                "a later toxicity is not a DLT",
                rule="dlt_outside_window",
                field="clinical_date",
            )
        if outcome == "no_dlt" and clinical_date < last:
            raise CommandRefused(
                f"the DLT window runs to {last}; completion cannot be recorded on {clinical_date}",
                rule="window_not_completed",
                field="clinical_date",
            )

    def revise_outcome_for_dlt(self: Patient, ae: AdverseEvent, actor: Actor, reason: str) -> str:
        """A DLT dated inside the window reached a window already closed without one: the
        outcome becomes a DLT (the cohort follows). Returns the DLT's description."""
        old = self.dlt_outcome
        description = f"{ae.term}, grade {ae.worst_grade} (AE {ae.id}): {ae.dlt_criterion}"
        if old is None:
            raise CommandRefused("the DLT window is still open", rule="window_open")
        self._dlt_outcome_revised(
            old_outcome=old, new_outcome="dlt", reason=reason, actor=actor.as_record()
        )
        self.dlt_outcome_ae = ae.id
        return description

    def reopen_window_for_candidate(self: Patient, actor: Actor, reason: str) -> None:
        """A DLT candidate dated inside the window reached a window closed without a DLT: the
        outcome is awaited again until the SRC adjudicates the candidate."""
        if self.dlt_outcome != "no_dlt" or not self.dlt_candidates:
            raise CommandRefused(
                "only a window closed without a DLT reopens, for a DLT candidate",
                rule="window_not_reopenable",
            )
        self._dlt_outcome_revised(
            old_outcome="no_dlt", new_outcome=None, reason=reason, actor=actor.as_record()
        )
