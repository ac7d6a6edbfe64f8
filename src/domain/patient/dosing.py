# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's dosing commands: doses given or missed, and the dose actions on them
(hold, reduce, resume, discontinue).

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

from domain.actors import Actor
from domain.adverse_event import ResumeAt
from domain.dose_ladder import agents_to_discontinue, can_reduce, reduced
from domain.errors import CommandRefused, InvalidInput
from domain.patient.clinical_dates import check_not_before
from domain.patient.dosing_record import check_deviation, check_dose_day
from domain.patient.requirements import Requirement, resume_rung
from domain.patient.screening import check_ready_to_dose
from domain.protocol import Protocol

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


class DosingCommands:
    """Doses and the investigator's dose actions: a departure from what an open requirement
    asks (§5a) is recorded only with a reason."""

    def start_dosing(
        self: Patient, clinical_date: dt.date, actor: Actor, *, today: dt.date
    ) -> None:
        """Record the first dose; refused without the baseline eye and skin exams."""
        self._check_in_study()
        if self.first_dose_date is not None:
            raise CommandRefused(
                f"dosing already started on {self.first_dose_date}",
                rule="dosing_already_started",
            )
        self._check_date(clinical_date, today)
        check_ready_to_dose(
            self.subject_id, clinical_date, self.baseline_eye_exam, self.baseline_skin_exam
        )
        self._dosing_started(clinical_date=clinical_date, actor=actor.as_record())

    def administer_dose(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        deviation_reason: str = "",
    ) -> bool:
        """Record a day's dose. Refused inside a hold, after a discontinuation, death or
        withdrawal; against an open withhold or discontinue requirement only as a deviation
        with a reason (returns True when it was recorded as one)."""
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        self._check_not_discontinued()
        check_dose_day(self.subject_id, clinical_date, self.dose_days, self.holds)
        blocking = [*self.withholds, *self.discontinue_requirements]
        agents = [d.agent for d in self.doses if d.agent not in self.discontinued_agents]
        if check_deviation(self.subject_id, blocking, deviation_reason):
            self._dose_deviation(
                clinical_date=clinical_date,
                agents=agents,
                requirements=[r.as_record() for r in blocking],
                reason=deviation_reason.strip(),
                actor=actor.as_record(),
            )
            return True
        self._dose_administered(clinical_date=clinical_date, agents=agents, actor=actor.as_record())
        return False

    def record_missed_dose(
        self: Patient, clinical_date: dt.date, actor: Actor, *, today: dt.date, reason: str = ""
    ) -> None:
        """Record a planned dose that was not taken (it lowers the share of planned doses)."""
        self._check_treated_on(clinical_date, today)
        if clinical_date in self.dose_days:
            raise CommandRefused(
                f"a dose is recorded on {clinical_date}; correct it or mark it entered in error",
                rule="dose_recorded_that_day",
                field="clinical_date",
            )
        if clinical_date in self.missed_days:
            raise CommandRefused(
                f"a missed dose is already recorded on {clinical_date}",
                rule="missed_dose_already_recorded",
                field="clinical_date",
            )
        self._dose_missed(clinical_date=clinical_date, reason=reason, actor=actor.as_record())

    @staticmethod
    def _check_reason(departs: bool, reason: str, what: str, recommended: str) -> None:
        if departs and not reason.strip():
            raise CommandRefused(
                f"{what} departs from the recommendation ({recommended}); a reason is required",
                rule="reason_required",
                field="reason",
            )

    def _open_for_action(
        self: Patient, clinical_date: dt.date, today: dt.date, ae_id: UUID | None
    ) -> None:
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        self._check_not_discontinued()
        last = self.last_dose_date
        if last is not None:
            check_not_before(
                clinical_date, last, "the last dose recorded", rule="date_before_last_dose"
            )
        if ae_id is not None:
            self.adverse_event(ae_id)

    def _pending(self: Patient, action: str, ae_id: UUID | None) -> list[Requirement]:
        """Requirements asking for ``action`` not yet acted on (for one AE, when named)."""
        found = [
            r
            for r in self.requirements.values()
            if r.action == action and (ae_id is None or r.ae_id == ae_id)
        ]
        if action == "withhold":
            found = [r for r in found if r.held_since is None]
        return found

    def _describe_open(self: Patient) -> str:
        if not self.requirements:
            return "continue"
        return "; ".join(f"{r.action}, rule {r.rule}" for r in self.requirements.values())

    def hold_dose(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        ae_id: UUID | None = None,
        reason: str = "",
    ) -> None:
        """Withhold dosing for the AE's withhold requirement (or every pending one); during a
        hold, an AE's own withhold joins it and opens its own recovery window."""
        self._open_for_action(clinical_date, today, ae_id)
        pending = self._pending("withhold", ae_id)
        if self.on_hold:
            hold = self.holds[-1]
            if not pending and ae_id is not None:
                # Its withhold joined the hold when it was recommended (§5a): this records
                # the investigator's hold for it; its recovery window stays as it opened.
                pending = [r for r in self.withholds if r.ae_id == ae_id]
            if not pending:
                raise CommandRefused(
                    f"dosing is already withheld since {hold.start}"
                    + ("" if ae_id is None else f" and AE {ae_id} has no withhold of its own"),
                    rule="already_withheld",
                )
            check_not_before(clinical_date, hold.start, "the hold's start", rule="date_before_hold")
        elif clinical_date in self.dose_days:
            raise CommandRefused(
                f"a dose is recorded on {clinical_date}: a hold starts on the first day it "
                "stops a dose (the next day), or correct or mark that dose entered in error",
                rule="dose_recorded_that_day",
                field="clinical_date",
            )
        self._check_reason(not pending, reason, "withholding", self._describe_open())
        first = pending[0] if pending else None
        self._dose_held(
            ae_id=ae_id if ae_id is not None or first is None else first.ae_id,
            clinical_date=clinical_date,
            resume=None if first is None else first.resume,
            resume_when_grade_at_most=None if first is None else first.resume_when_grade_at_most,
            resume_when_bcva_at_baseline=bool(first and first.resume_when_bcva_at_baseline),
            deadline=(
                None
                if first is None or first.within_days is None
                else first.deadline or clinical_date + dt.timedelta(days=first.within_days)
            ),
            rule=None if first is None else first.rule,
            reason=reason,
            actor=actor.as_record(),
        )

    def reduce_dose(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        ae_id: UUID | None = None,
        reason: str = "",
    ) -> None:
        """Step down the reduction ladder now; below its bottom is a discontinuation."""
        self._open_for_action(clinical_date, today, ae_id)
        self._check_can_reduce(protocol)
        pending = self._pending("reduce", ae_id)
        self._check_reason(not pending, reason, "reducing", self._describe_open())
        self._dose_reduced(
            ae_id=ae_id if ae_id is not None or not pending else pending[0].ae_id,
            clinical_date=clinical_date,
            from_doses=[d.model_dump(mode="json") for d in self.doses],
            to_doses=[d.model_dump(mode="json") for d in reduced(protocol, self.doses)],
            reason=reason,
            actor=actor.as_record(),
        )

    def _check_can_reduce(self: Patient, protocol: Protocol) -> None:
        if not can_reduce(protocol, self.doses):
            doses = ", ".join(d.label for d in self.doses)
            raise CommandRefused(
                f"subject {self.subject_id} is at the bottom of the reduction ladder ({doses}); "
                "a further reduction is a discontinuation: record discontinue",
                rule="ladder_exhausted",
            )

    def resume_dose(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        at: ResumeAt | None = None,
        reason: str = "",
    ) -> ResumeAt:
        """Resume when every withhold condition is met, at the lowest rung any requires.
        A discontinue requirement is never lifted; an unmet condition needs a reason."""
        self._open_for_action(clinical_date, today, None)
        hold = self.current_hold
        if hold is None:
            raise CommandRefused(
                f"dosing of subject {self.subject_id} is not withheld", rule="not_withheld"
            )
        check_not_before(clinical_date, hold.start, "the hold began", rule="date_before_hold")
        if self.discontinue_requirements:
            what = ", ".join(f"AE {r.ae_id} (rule {r.rule})" for r in self.discontinue_requirements)
            raise CommandRefused(
                f"subject {self.subject_id} must be discontinued ({what}); a discontinuation "
                "is permanent and cannot be resumed",
                rule="discontinuation_required",
            )
        recommended = resume_rung(self.withholds)
        chosen: ResumeAt = at or recommended
        if chosen not in ("same", "reduced"):
            raise InvalidInput(f"resume at '{chosen}': use same or reduced", field="at")
        unmet = self.unmet_withholds()
        late = [
            r
            for r in self.withholds
            if r.deadline is not None and clinical_date > r.deadline and not r.met_in_time
        ]
        if unmet or late:
            what = "; ".join(
                [f"condition not met: {r.condition()} (AE {r.ae_id})" for r in unmet]
                + [f"deadline {r.deadline} passed (AE {r.ae_id})" for r in late if r not in unmet]
            )
            self._check_reason(True, reason, "resuming", what)
        elif chosen != recommended:
            self._check_reason(
                True, reason, f"resuming at the {chosen} dose", f"resume at the {recommended} dose"
            )
        if chosen == "reduced":
            self._check_can_reduce(protocol)
        to = reduced(protocol, self.doses) if chosen == "reduced" else self.doses
        self._dose_resumed(
            clinical_date=clinical_date,
            at=chosen,
            from_doses=[d.model_dump(mode="json") for d in self.doses],
            to_doses=[d.model_dump(mode="json") for d in to],
            reason=reason,
            actor=actor.as_record(),
        )
        return chosen

    def discontinue(
        self: Patient,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        ae_id: UUID | None = None,
        reason: str = "",
    ) -> list[str]:
        """Permanently discontinue treatment (all agents when the protocol says so)."""
        self._check_treated_on(clinical_date, today)
        self._check_not_discontinued()
        last = self.last_dose_date
        if last is not None:  # a dose already recorded after it would lie after it
            check_not_before(
                clinical_date, last, "the last dose recorded", rule="date_before_last_dose"
            )
        if ae_id is not None:
            self.adverse_event(ae_id)
        pending = self._pending("discontinue", ae_id)
        self._check_reason(not pending, reason, "discontinuing", self._describe_open())
        agents = agents_to_discontinue(protocol, self.doses)
        self._discontinued(
            ae_id=ae_id if ae_id is not None or not pending else pending[0].ae_id,
            clinical_date=clinical_date,
            agents=agents,
            reason=reason,
            actor=actor.as_record(),
        )
        return agents
