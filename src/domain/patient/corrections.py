# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's correction commands: a recorded fact corrected, or marked entered in error.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.adverse_event import AdverseEvent
from domain.ctcae import CtcaeTerm
from domain.dlt_policy import ATTRIBUTIONS, DltAssessment, assess_dlt
from domain.errors import CommandRefused, InvalidInput
from domain.patient.results import FACTS, Correction, OutcomeChange
from domain.protocol import Protocol

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


def _uuid(text: str, field: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(f"{field} '{text[:40]}' is not a UUID", field=field) from None


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} '{text[:40]}' is not a date (YYYY-MM-DD)", field=field
        ) from None


class CorrectionCommands:
    """Corrections, each with its reason; the history keeps the old value. The recommendation
    and the DLT verdict are worked out again from the corrected facts."""

    def correct_adverse_event(
        self: Patient,
        ae_id: UUID,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        term: CtcaeTerm,
        reason: str,
        grade: int | None = None,
        onset: dt.date | None = None,
        attribution: str | None = None,
        serious: bool | None = None,
    ) -> Correction:
        """Correct a recorded AE (its latest grade, onset, attribution or seriousness) with a
        reason; its recommendation and DLT verdict are worked out again from the new facts."""
        ae = self.adverse_event(ae_id)
        self._check_correction_reason(reason)
        changes: dict[str, list[Any]] = {}
        if grade is not None and grade != ae.grade:
            if grade not in term.grades:
                raise InvalidInput(f"{ae.term} has no grade {grade} in CTCAE v5.0", field="grade")
            if not ae.is_open:
                raise CommandRefused(
                    f"AE {ae_id} is resolved; correct a resolved AE's onset or attribution, or "
                    "mark it entered in error",
                    rule="ae_resolved",
                    field="grade",
                )
            changes["grade"] = [ae.grade, grade]
            worst = max([*ae.grades[:-1], grade])
            if worst != ae.worst_grade:
                changes["worst_grade"] = [ae.worst_grade, worst]
        if onset is not None and onset != ae.onset:
            self._check_treated_on(onset, today)
            changes["onset"] = [ae.onset.isoformat(), onset.isoformat()]
        if attribution is not None and attribution != ae.attribution:
            if attribution not in ATTRIBUTIONS:
                raise InvalidInput(
                    f"unknown attribution '{attribution}'; attributions: {', '.join(ATTRIBUTIONS)}",
                    field="attribution",
                )
            changes["attribution"] = [ae.attribution, attribution]
        if serious is not None and serious != ae.serious:
            changes["serious"] = [ae.serious, serious]
        if not changes:
            raise CommandRefused(
                f"nothing to correct: AE {ae_id} already has these values",
                rule="correction_changes_nothing",
            )
        self._fact_corrected(
            fact="adverse_event",
            ref=str(ae_id),
            changes=changes,
            clinical_date=onset or ae.onset,
            reason=reason.strip(),
            actor=actor.as_record(),
        )
        recommendation = None
        if "grade" in changes:
            note = f"after a correction: {reason.strip()}"
            evaluated = replace(self._evaluate(ae, protocol, term), note=note)
            recommendation = self._recommend(ae.id, today, evaluated, actor)
            if self.on_hold and self.hold_resumable():
                self._recommend(ae.id, today, self._resume_recommendation(protocol), actor)
        return Correction(
            recommendation, self._reassess_after_correction(ae, actor, protocol, term)
        )

    def mark_in_error(
        self: Patient, fact: str, ref: str, actor: Actor, *, reason: str, protocol: Protocol
    ) -> Correction:
        """Mark a recorded AE, dose or missed dose entered in error (the history keeps it)."""
        self._check_correction_reason(reason)
        clinical_date: dt.date | None
        ae = None
        if fact == "adverse_event":
            ae = self.adverse_event(_uuid(ref, "ref"))
            clinical_date = ae.onset
            ref = str(ae.id)
        elif fact in ("dose", "missed_dose"):
            clinical_date = _date(ref, "ref")
            days = self.dose_days if fact == "dose" else self.missed_days
            if clinical_date not in days:
                raise CommandRefused(
                    f"subject {self.subject_id} has no {fact.replace('_', ' ')} on {ref}",
                    rule="fact_not_found",
                    field="ref",
                )
            if fact == "dose" and clinical_date == self.first_dose_date:
                raise CommandRefused(
                    "the first dose starts the DLT window: correct its date instead",
                    rule="first_dose_in_error",
                    field="ref",
                )
            ref = clinical_date.isoformat()
        else:
            raise InvalidInput(f"unknown fact '{fact}'; facts: {', '.join(FACTS)}", field="fact")
        self._fact_in_error(
            fact=fact,
            ref=ref,
            clinical_date=clinical_date,
            reason=reason.strip(),
            actor=actor.as_record(),
        )
        if ae is None:
            return Correction(None, None)
        recommendation = None
        if self.on_hold and self.hold_resumable():
            recommendation = self._resume_recommendation(protocol)
            self._recommend(ae.id, clinical_date, recommendation, actor)
        return Correction(recommendation, self._reassess_after_correction(ae, actor, None, None))

    def correct_dose_date(
        self: Patient, old: dt.date, new: dt.date, actor: Actor, *, today: dt.date, reason: str
    ) -> None:
        """Correct the date of a recorded dose (the first dose moves the DLT window)."""
        self._check_correction_reason(reason)
        if old not in self.dose_days:
            raise CommandRefused(
                f"subject {self.subject_id} has no dose on {old}",
                rule="fact_not_found",
                field="ref",
            )
        self._check_date(new, today)
        if new in self.dose_days:
            raise CommandRefused(
                f"a dose is already recorded on {new}",
                rule="dose_already_recorded",
                field="clinical_date",
            )
        if any(h.covers(new) for h in self.holds):
            raise CommandRefused(
                f"{new} is inside a hold", rule="dose_withheld", field="clinical_date"
            )
        if old == self.first_dose_date:
            second = next((d for d in self.dose_days if d != old), None)
            if self.dlt_outcome is not None or (second is not None and new > second):
                raise CommandRefused(
                    "the first dose can move only before any other record depends on it",
                    rule="first_dose_in_use",
                    field="clinical_date",
                )
        elif self.first_dose_date is not None and new < self.first_dose_date:
            raise CommandRefused(
                f"{new} is before the first dose ({self.first_dose_date})",
                rule="date_before_first_dose",
                field="clinical_date",
            )
        self._fact_corrected(
            fact="dose",
            ref=old.isoformat(),
            changes={"clinical_date": [old.isoformat(), new.isoformat()]},
            clinical_date=new,
            reason=reason.strip(),
            actor=actor.as_record(),
        )

    @staticmethod
    def _check_correction_reason(reason: str) -> None:
        if not reason.strip():
            raise CommandRefused(
                "a correction needs a reason (why the recorded value was wrong)",
                rule="reason_required",
                field="reason",
            )

    def _reassess_after_correction(
        self: Patient,
        ae: AdverseEvent,
        actor: Actor,
        protocol: Protocol | None,
        term: CtcaeTerm | None,
    ) -> OutcomeChange | None:
        """The DLT verdict of a corrected AE, and what it changes in the window's outcome."""
        if ae.in_error or protocol is None or term is None:
            verdict = DltAssessment("not_dlt", "entered in error")
        else:
            verdict = assess_dlt(
                term,
                ae.worst_grade,
                attribution=ae.attribution,
                onset=ae.dlt_reached_on or ae.onset,
                window=self._window(),
                criteria=protocol.dlt_criteria,
            )
        if verdict.verdict != ae.dlt_verdict and not ae.in_error:
            self._dlt_assessed(
                ae_id=ae.id,
                grade=ae.worst_grade,
                clinical_date=ae.dlt_reached_on or ae.onset,
                verdict=verdict.verdict,
                criterion=verdict.criterion,
                actor=actor.as_record(),
            )
        if self.dlt_outcome == "dlt" and self.dlt_outcome_ae == ae.id and verdict.verdict != "dlt":
            self._dlt_outcome_revised(
                old_outcome="dlt",
                new_outcome=None,
                reason=f"AE {ae.id} corrected: no longer a DLT ({verdict.criterion})",
                actor=actor.as_record(),
            )
            return OutcomeChange(ae.id, None, verdict.criterion)
        if verdict.verdict == "dlt" and self.dlt_outcome != "dlt":
            return OutcomeChange(ae.id, "dlt", verdict.criterion)
        new_candidate = verdict.verdict == "candidate" and ae.id not in self.dlt_candidates
        if new_candidate and self.dlt_outcome is None:
            self._dlt_candidate(ae_id=ae.id, criterion=verdict.criterion, actor=actor.as_record())
            return OutcomeChange(ae.id, "candidate", verdict.criterion)
        return None
