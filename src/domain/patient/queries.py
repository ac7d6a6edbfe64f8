# mypy: disable-error-code="misc"
# Why: the methods below are the aggregate's own and annotate ``self: Patient``; mypy reports a
# self type that is a subclass of the mixin as [misc] ("not a supertype of its class") though it
# checks the bodies and every call against Patient. That report is the only [misc] in the module.
"""The Patient's queries: where the patient stands, read from the state its events built.

A mixin of :class:`~domain.patient.aggregate.Patient` (the events and the ``@event`` methods that
apply them live there: the aggregate's metaclass needs them on the class itself).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

from domain.adverse_event import AdverseEvent
from domain.errors import CommandRefused
from domain.patient.dlt_window import DoseShare, dose_share, window_last_day
from domain.patient.requirements import HoldPeriod, Requirement, discontinuations, withholds
from domain.protocol import Schedule
from domain.vision import VisualAcuity

if TYPE_CHECKING:
    from domain.patient.aggregate import Patient


class PatientQueries:
    """Reads of the patient's state that the commands, the projections and the API share."""

    @property
    def on_hold(self: Patient) -> bool:
        """True while a hold period is open (dosing withheld, no resume yet)."""
        return bool(self.holds) and self.holds[-1].end is None

    @property
    def all_discontinued(self: Patient) -> bool:
        """True when every agent has been permanently discontinued."""
        return bool(self.doses) and all(d.agent in self.discontinued_agents for d in self.doses)

    def baseline_logmar(self: Patient, eye: str | None) -> float | None:
        """The baseline BCVA (logMAR) of one eye."""
        if self.baseline_eye_exam is None or eye is None:
            return None
        value: float = self.baseline_eye_exam[f"bcva_{eye}_logmar"]
        return value

    @property
    def dlt_window_last_day(self: Patient) -> dt.date | None:
        """The last day of the DLT window (day 1 is the first dose), once dosing started."""
        if self.first_dose_date is None:
            return None
        return window_last_day(self.first_dose_date, self.dlt_window_days)

    @property
    def last_dose_date(self: Patient) -> dt.date | None:
        """The latest day a dose was recorded."""
        return self.dose_days.last

    @property
    def current_hold(self: Patient) -> HoldPeriod | None:
        """The open hold period, if any."""
        return self.holds[-1] if self.on_hold else None

    @property
    def died_on(self: Patient) -> dt.date | None:
        """The day of a grade 5 AE (death), if any."""
        days = [
            self.grade_5_on.get(ae.id)
            or (ae.onset if ae.grades and ae.grades[0] == 5 else ae.resolved_on or ae.onset)
            for ae in self.adverse_events.values()
            if not ae.in_error and 5 in ae.grades
        ]
        return min(days) if days else None

    @property
    def left_study(self: Patient) -> bool:
        """True when the patient left the study before completing the window (replaced)."""
        return self.dlt_outcome == "not_evaluable"

    @property
    def withholds(self: Patient) -> list[Requirement]:
        """Open withhold requirements."""
        return withholds(self.requirements.values())

    @property
    def discontinue_requirements(self: Patient) -> list[Requirement]:
        """Open discontinue requirements (permanent)."""
        return discontinuations(self.requirements.values())

    @property
    def dosing_status(self: Patient) -> str:
        """not started, on treatment, withheld or discontinued (the most restrictive)."""
        if self.all_discontinued or self.died_on is not None:
            return "discontinued"
        if self.first_dose_date is None:
            return "not started"
        if self.on_hold or self.withholds or self.discontinue_requirements:
            return "withheld"
        return "on treatment"

    @property
    def status(self: Patient) -> str:
        """Where the patient is in the study, in words a site would use."""
        if self.left_study:
            return "not evaluable (replaced)"
        if self.died_on is not None:
            return "died"
        if self.all_discontinued:
            return "treatment discontinued"
        if self.first_dose_date is None:
            ready = self.baseline_eye_exam is not None and self.baseline_skin_exam is not None
            return "ready to dose" if ready else "screening"
        if self.dosing_status == "withheld":
            return "dose withheld"
        if self.dlt_outcome is None:
            return "in DLT window"
        return "on treatment"

    def occurrences(self: Patient, term: str, *, excluding: UUID | None = None) -> int:
        """Earlier episodes of a term that reached grade 3 or worse."""
        return sum(
            1
            for ae in self.adverse_events.values()
            if ae.term == term and ae.worst_grade >= 3 and ae.id != excluding and not ae.in_error
        )

    def unmet_withholds(self: Patient) -> list[Requirement]:
        """Withhold requirements whose resume condition does not hold now."""
        return [
            req
            for req in self.withholds
            if not req.is_met_by(
                self.adverse_events.get(req.ae_id),
                self.baseline_logmar(self._eye_of(req.ae_id)),
            )
        ]

    def hold_resumable(self: Patient) -> bool:
        """True when dosing is withheld and every withhold condition is met."""
        return self.on_hold and not self.unmet_withholds() and not self.discontinue_requirements

    def _eye_of(self: Patient, ae_id: UUID) -> str | None:
        ae = self.adverse_events.get(ae_id)
        return None if ae is None else ae.eye

    def dose_share(self: Patient, schedule: Schedule) -> DoseShare | None:
        """Planned, withheld and missed doses of the DLT window, once dosing started."""
        if self.first_dose_date is None:
            return None
        return dose_share(
            schedule, self.first_dose_date, self.dlt_window_days, self.holds, self.missed_days
        )

    def adverse_event(self: Patient, ae_id: UUID) -> AdverseEvent:
        """One of the patient's AEs, or CommandRefused naming it."""
        ae = self.adverse_events.get(ae_id)
        if ae is None or ae.in_error:
            raise CommandRefused(
                f"subject {self.subject_id} has no adverse event {ae_id}",
                rule="ae_not_found",
                field="ae_id",
            )
        return ae

    def open_dlt(self: Patient) -> AdverseEvent | None:
        """An AE whose DLT verdict stands but whose DLT is not yet the window's outcome."""
        if self.dlt_outcome == "dlt":
            return None
        return next(
            (
                ae
                for ae in self.adverse_events.values()
                if ae.dlt_verdict == "dlt" and not ae.in_error and ae.dlt_reached_on is not None
            ),
            None,
        )

    def _window(self: Patient) -> tuple[dt.date, dt.date] | None:
        first, last = self.first_dose_date, self.dlt_window_last_day
        return None if first is None or last is None else (first, last)

    def _baseline_acuity(self: Patient, eye: str | None) -> VisualAcuity | None:
        logmar = self.baseline_logmar(eye)
        return None if logmar is None else VisualAcuity(logmar)
