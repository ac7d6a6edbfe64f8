"""The Patient aggregate: enrolment at a dose level, baseline eye exam, dosing, DLT window."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import Actor
from domain.cohort import OUTCOMES, Outcome
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import AgentDose
from domain.vision import parse_bcva


class Patient(Aggregate):
    """One study subject, identified by a pseudonymous subject id, rebuilt from its events."""

    TOPIC = "doseledger:patient"
    class_version = 1

    class Created(Aggregate.Created):
        TOPIC = "doseledger:patient.Created"

    class Enrolled(Created):
        TOPIC = "doseledger:patient.Enrolled"
        class_version = 1
        trial_id: UUID
        subject_id: str
        site_id: str
        cohort: int
        level: int
        doses: list[dict[str, Any]]
        dlt_window_days: int
        actor: dict[str, Any]

    class Event(Aggregate.Event):
        TOPIC = "doseledger:patient.Event"

    class BaselineEyeExamRecorded(Event):
        TOPIC = "doseledger:patient.BaselineEyeExamRecorded"
        class_version = 1
        clinical_date: dt.date
        bcva_right: str
        bcva_left: str
        bcva_right_logmar: float
        bcva_left_logmar: float
        slit_lamp_findings: str
        actor: dict[str, Any]

    class DosingStarted(Event):
        TOPIC = "doseledger:patient.DosingStarted"
        class_version = 1
        clinical_date: dt.date
        actor: dict[str, Any]

    class DLTWindowClosed(Event):
        TOPIC = "doseledger:patient.DLTWindowClosed"
        class_version = 1
        outcome: str
        clinical_date: dt.date
        description: str
        reason: str
        doses_taken_fraction: float | None
        actor: dict[str, Any]

    # ----------------------------------------------------------------- state (applied)

    @event(Enrolled)
    def __init__(
        self,
        id: UUID,
        trial_id: UUID,
        subject_id: str,
        site_id: str,
        cohort: int,
        level: int,
        doses: list[dict[str, Any]],
        dlt_window_days: int,
        actor: dict[str, Any],
    ):
        self.trial_id = trial_id
        self.subject_id = subject_id
        self.site_id = site_id
        self.cohort = cohort
        self.level = level
        self.doses = [AgentDose.model_validate(d) for d in doses]
        self.dlt_window_days = dlt_window_days
        self.baseline_eye_exam: dict[str, Any] | None = None
        self.first_dose_date: dt.date | None = None
        self.dlt_outcome: Outcome | None = None

    @event(BaselineEyeExamRecorded)
    def _baseline_eye_exam(
        self,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        bcva_right_logmar: float,
        bcva_left_logmar: float,
        slit_lamp_findings: str,
        actor: dict[str, Any],
    ) -> None:
        self.baseline_eye_exam = {
            "date": clinical_date,
            "bcva_right": bcva_right,
            "bcva_left": bcva_left,
            "bcva_right_logmar": bcva_right_logmar,
            "bcva_left_logmar": bcva_left_logmar,
            "slit_lamp_findings": slit_lamp_findings,
        }

    @event(DosingStarted)
    def _dosing_started(self, clinical_date: dt.date, actor: dict[str, Any]) -> None:
        self.first_dose_date = clinical_date

    @event(DLTWindowClosed)
    def _dlt_window_closed(
        self,
        outcome: Outcome,
        clinical_date: dt.date,
        description: str,
        reason: str,
        doses_taken_fraction: float | None,
        actor: dict[str, Any],
    ) -> None:
        self.dlt_outcome = outcome

    # ----------------------------------------------------------------- queries

    @property
    def dlt_window_last_day(self) -> dt.date | None:
        """The last day of the DLT window (day 1 is the first dose), once dosing started."""
        if self.first_dose_date is None:
            return None
        return self.first_dose_date + dt.timedelta(days=self.dlt_window_days - 1)

    @property
    def status(self) -> str:
        """Where the patient is in the study, in words a site would use."""
        if self.dlt_outcome == "not_evaluable":
            return "not evaluable (replaced)"
        if self.first_dose_date is None:
            return "screening" if self.baseline_eye_exam is None else "ready to dose"
        if self.dlt_outcome is None:
            return "in DLT window"
        return "on treatment"

    # ----------------------------------------------------------------- commands

    def record_baseline_eye_exam(
        self,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record the baseline ophthalmology exam (BCVA per eye, slit lamp) before dosing."""
        if self.first_dose_date is not None:
            raise CommandRefused(
                f"dosing started on {self.first_dose_date}; a baseline exam comes before it",
                rule="baseline_after_dosing",
                field="clinical_date",
            )
        right = parse_bcva(bcva_right)
        left = parse_bcva(bcva_left)
        self._baseline_eye_exam(
            clinical_date=clinical_date,
            bcva_right=bcva_right.strip(),
            bcva_left=bcva_left.strip(),
            bcva_right_logmar=right.logmar,
            bcva_left_logmar=left.logmar,
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def start_dosing(self, clinical_date: dt.date, actor: Actor) -> None:
        """Record the first dose; refused without a baseline eye exam."""
        if self.dlt_outcome == "not_evaluable":
            raise CommandRefused(
                f"subject {self.subject_id} left the study (not evaluable)",
                rule="patient_withdrawn",
            )
        if self.first_dose_date is not None:
            raise CommandRefused(
                f"dosing already started on {self.first_dose_date}",
                rule="dosing_already_started",
            )
        if self.baseline_eye_exam is None:
            raise CommandRefused(
                f"subject {self.subject_id} has no baseline eye exam; "
                "dosing must not start without it",
                rule="baseline_eye_exam_required",
            )
        exam_date: dt.date = self.baseline_eye_exam["date"]
        if clinical_date < exam_date:
            raise CommandRefused(
                f"first dose {clinical_date} is before the baseline eye exam ({exam_date})",
                rule="dose_before_baseline",
                field="clinical_date",
            )
        self._dosing_started(clinical_date=clinical_date, actor=actor.as_record())

    def close_dlt_window(
        self,
        outcome: str,
        clinical_date: dt.date,
        actor: Actor,
        *,
        min_dose_fraction: float,
        description: str = "",
        reason: str = "",
        doses_taken_fraction: float | None = None,
    ) -> None:
        """Record the DLT-window outcome: a DLT, completion without DLT, or not evaluable."""
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
        if outcome != "not_evaluable":
            self._check_in_window(outcome, clinical_date)
        if outcome == "no_dlt":
            if doses_taken_fraction is None:
                raise CommandRefused(
                    "completing the DLT window needs the fraction of planned doses taken",
                    rule="dose_fraction_required",
                    field="doses_taken_fraction",
                )
            if doses_taken_fraction < min_dose_fraction:
                raise CommandRefused(
                    f"subject {self.subject_id} took {doses_taken_fraction:.0%} of planned doses, "
                    f"under the {min_dose_fraction:.0%} needed to be evaluable without a DLT; "
                    "record the patient as not evaluable",
                    rule="not_evaluable_dose_fraction",
                    field="doses_taken_fraction",
                )
        self._dlt_window_closed(
            outcome=outcome,
            clinical_date=clinical_date,
            description=description,
            reason=reason,
            doses_taken_fraction=doses_taken_fraction,
            actor=actor.as_record(),
        )

    def _check_in_window(self, outcome: str, clinical_date: dt.date) -> None:
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
