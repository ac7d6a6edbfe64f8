"""The Patient aggregate: its events, state and thin command methods.

The rules the commands apply live in pure modules beside it: ``requirements`` (what each open
AE requires, §5a), ``dlt_window`` (days, evaluability), ``clinical_dates`` (§7a) and the
domain's rule sets and DLT policy.
"""

from __future__ import annotations

import datetime as dt
from bisect import insort
from dataclasses import replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import SYSTEM, Actor
from domain.adverse_event import AdverseEvent, ResumeAt
from domain.cohort import OUTCOMES, Outcome
from domain.ctcae import CtcaeTerm
from domain.dlt_policy import ATTRIBUTIONS, DltAssessment, assess_dlt
from domain.dose_ladder import agents_to_discontinue, can_reduce, reduced
from domain.errors import CommandRefused, InvalidInput
from domain.grading import grade_blurred_vision, grade_rash_acneiform
from domain.patient.clinical_dates import check_clinical_date, check_not_before
from domain.patient.dlt_window import DoseShare, dose_share, window_last_day
from domain.patient.dosing_record import DayRuns, check_deviation, check_dose_day
from domain.patient.requirements import (
    HoldPeriod,
    Requirement,
    discontinuations,
    requirement_from,
    resume_rung,
    supersede,
    withholds,
)
from domain.patient.results import FACTS, Correction, GradeChange, OutcomeChange, SkinResult
from domain.patient.screening import check_before_dosing, check_ready_to_dose, exam_acuity
from domain.protocol import AgentDose, Protocol, Schedule
from domain.rules import (
    AdverseEventFacts,
    DoseRecommendation,
    recommend_dose,
    recommend_not_recovered,
    rule_set_for,
)
from domain.vision import VisualAcuity, parse_bcva

BLURRED_VISION = "Blurred vision"
RASH = "Rash acneiform"
EYES = ("right", "left")
EYE_EXAM_PURPOSES = ("follow_up", "referral")
"""Why an on-treatment eye exam was done: the scheduled follow-up, or a visual-AE referral."""


def _ctcae_version(protocol: Protocol, term: str, given: str | None, reason: str) -> str:
    """The CTCAE version that grades ``term``: the protocol's, or another one with a reason."""
    pinned = protocol.ctcae_version(term)
    if given is None or given == pinned:
        return pinned
    if not reason.strip():
        raise CommandRefused(
            f"the protocol grades {term} under CTCAE v{pinned}; grading it under v{given} needs "
            "a reason (ctcae_version_reason)",
            rule="ctcae_version_differs",
            field="ctcae_version",
        )
    return given


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


class Patient(Aggregate):
    """One study subject, identified by a pseudonymous subject id, rebuilt from its events."""

    TOPIC = "doseledger:patient"
    # Of the state: a snapshot of another one is not used (2: requirements per AE, hold periods,
    # dose days as runs, grade_5_on).
    class_version = 2

    class Created(Aggregate.Created):
        TOPIC = "doseledger:patient.Created"

    class Enrolled(Created):
        TOPIC = "doseledger:patient.Enrolled"
        trial_id: UUID
        subject_id: str
        site_id: str
        cohort: int
        level: int
        doses: list[dict[str, Any]]
        dlt_window_days: int
        enrolment_date: dt.date | None
        site_time_zone: str
        actor: dict[str, Any]

        class_version = 2  # 2: enrolment_date, site_time_zone

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Enrolments stored before: the enrolment date unknown (sites entered data after
            the visit, so the recording's date is no bound on clinical dates), the zone UTC."""
            state["enrolment_date"] = None
            state["site_time_zone"] = "UTC"

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

    class EyeExamRecorded(Event):
        """An ophthalmology exam after the first dose: a scheduled follow-up or a referral."""

        TOPIC = "doseledger:patient.EyeExamRecorded"
        class_version = 1
        clinical_date: dt.date
        purpose: str
        bcva_right: str
        bcva_left: str
        bcva_right_logmar: float
        bcva_left_logmar: float
        slit_lamp_findings: str
        actor: dict[str, Any]

    class BaselineSkinExamRecorded(Event):
        TOPIC = "doseledger:patient.BaselineSkinExamRecorded"
        class_version = 1
        clinical_date: dt.date
        findings: str
        actor: dict[str, Any]

    class DosingStarted(Event):
        TOPIC = "doseledger:patient.DosingStarted"
        class_version = 1
        clinical_date: dt.date
        actor: dict[str, Any]

    class DoseAdministered(Event):
        TOPIC = "doseledger:patient.DoseAdministered"
        class_version = 1
        clinical_date: dt.date
        agents: list[str]
        actor: dict[str, Any]

    class AERecorded(Event):
        TOPIC = "doseledger:patient.AERecorded"
        class_version = 2  # 2: ctcae_version_reason
        ae_id: UUID
        term: str
        meddra_code: str
        grade: int
        ctcae_version: str
        clinical_date: dt.date
        attribution: str
        serious: bool
        occurrence: int
        measurement: dict[str, Any] | None
        eye: str | None
        bcva_logmar: float | None
        dlt_assessment: dict[str, Any]
        actor: dict[str, Any]
        ctcae_version_reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """AEs recorded before the protocol named the CTCAE version per term."""
            state["ctcae_version_reason"] = ""

    class AEGraded(Event):
        TOPIC = "doseledger:patient.AEGraded"
        class_version = 1
        ae_id: UUID
        old_grade: int
        new_grade: int
        clinical_date: dt.date
        measurement: dict[str, Any] | None
        bcva_logmar: float | None
        reason: str
        actor: dict[str, Any]

    class AEResolved(Event):
        TOPIC = "doseledger:patient.AEResolved"
        class_version = 1
        ae_id: UUID
        old_grade: int
        clinical_date: dt.date
        actor: dict[str, Any]

    class SkinAssessed(Event):
        TOPIC = "doseledger:patient.SkinAssessed"
        class_version = 2  # 2: ctcae_version_reason
        clinical_date: dt.date
        grade: int
        ctcae_version: str
        location: str
        bsa_percent: float
        symptoms: str
        ae_id: UUID | None
        actor: dict[str, Any]
        ctcae_version_reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Assessments recorded before the protocol named the CTCAE version per term."""
            state["ctcae_version_reason"] = ""

    class DoseRecommended(Event):
        TOPIC = "doseledger:patient.DoseRecommended"
        class_version = 1
        ae_id: UUID | None
        clinical_date: dt.date
        recommendation: dict[str, Any]
        actor: dict[str, Any]

    class DoseHeld(Event):
        TOPIC = "doseledger:patient.DoseHeld"
        class_version = 1
        ae_id: UUID | None
        clinical_date: dt.date
        resume: str | None
        resume_when_grade_at_most: int | None
        resume_when_bcva_at_baseline: bool
        deadline: dt.date | None
        rule: str | None
        reason: str
        actor: dict[str, Any]

    class DoseReduced(Event):
        TOPIC = "doseledger:patient.DoseReduced"
        class_version = 1
        ae_id: UUID | None
        clinical_date: dt.date
        from_doses: list[dict[str, Any]]
        to_doses: list[dict[str, Any]]
        reason: str
        actor: dict[str, Any]

    class DoseResumed(Event):
        TOPIC = "doseledger:patient.DoseResumed"
        class_version = 1
        clinical_date: dt.date
        at: str
        from_doses: list[dict[str, Any]]
        to_doses: list[dict[str, Any]]
        reason: str
        actor: dict[str, Any]

    class TreatmentDiscontinued(Event):
        TOPIC = "doseledger:patient.TreatmentDiscontinued"
        class_version = 1
        ae_id: UUID | None
        clinical_date: dt.date
        agents: list[str]
        reason: str
        actor: dict[str, Any]

    class DLTCandidateRaised(Event):
        TOPIC = "doseledger:patient.DLTCandidateRaised"
        class_version = 1
        ae_id: UUID
        criterion: str
        actor: dict[str, Any]

    class DLTCandidateRejected(Event):
        TOPIC = "doseledger:patient.DLTCandidateRejected"
        class_version = 1
        ae_id: UUID
        reason: str
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

    class DLTAssessed(Event):
        """A grade change brought an AE to a DLT grade (or a candidate) inside the window."""

        TOPIC = "doseledger:patient.DLTAssessed"
        class_version = 1
        ae_id: UUID
        grade: int
        clinical_date: dt.date
        verdict: str
        criterion: str
        actor: dict[str, Any]

    class DoseMissed(Event):
        """A planned dose was not taken (it counts against the share of planned doses)."""

        TOPIC = "doseledger:patient.DoseMissed"
        class_version = 1
        clinical_date: dt.date
        reason: str
        actor: dict[str, Any]

    class DoseDeviationRecorded(Event):
        """A dose was given against an open withhold or discontinue requirement (§5a)."""

        TOPIC = "doseledger:patient.DoseDeviationRecorded"
        class_version = 1
        clinical_date: dt.date
        agents: list[str]
        requirements: list[dict[str, Any]]
        reason: str
        actor: dict[str, Any]

    class FactCorrected(Event):
        """A recorded fact corrected: which one, each field's old and new value, and why."""

        TOPIC = "doseledger:patient.FactCorrected"
        class_version = 1
        fact: str
        ref: str
        changes: dict[str, list[Any]]
        clinical_date: dt.date | None
        reason: str
        actor: dict[str, Any]

    class FactEnteredInError(Event):
        """A recorded fact marked entered in error: it no longer counts; history keeps it."""

        TOPIC = "doseledger:patient.FactEnteredInError"
        class_version = 1
        fact: str
        ref: str
        clinical_date: dt.date | None
        reason: str
        actor: dict[str, Any]

    class DLTOutcomeRevised(Event):
        """Corrected facts changed the DLT-window outcome (None: the window is open again)."""

        TOPIC = "doseledger:patient.DLTOutcomeRevised"
        class_version = 1
        old_outcome: str
        new_outcome: str | None
        reason: str
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
        enrolment_date: dt.date | None,
        site_time_zone: str,
        actor: dict[str, Any],
    ):
        self.trial_id = trial_id
        self.subject_id = subject_id
        self.site_id = site_id
        self.cohort = cohort
        self.level = level
        self.doses = [AgentDose.model_validate(d) for d in doses]
        self.dlt_window_days = dlt_window_days
        self.enrolment_date = enrolment_date
        self.site_time_zone = site_time_zone
        self.baseline_eye_exam: dict[str, Any] | None = None
        self.baseline_skin_exam: dict[str, Any] | None = None
        self.first_dose_date: dt.date | None = None
        self.dose_days = DayRuns()
        self.missed_days: list[dt.date] = []
        self.dlt_outcome: Outcome | None = None
        self.dlt_outcome_ae: UUID | None = None
        self.dlt_candidates: dict[UUID, str] = {}
        self.adverse_events: dict[UUID, AdverseEvent] = {}
        self.requirements: dict[UUID, Requirement] = {}
        self.holds: list[HoldPeriod] = []
        self.discontinued_agents: list[str] = []
        self.discontinued_on: dt.date | None = None
        self.deviations = 0
        self.skin_assessments: list[dict[str, Any]] = []
        self.grade_5_on: dict[UUID, dt.date] = {}
        """The day each AE reached grade 5 (death), when it did."""

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

    @event(EyeExamRecorded)
    def _eye_exam(
        self,
        clinical_date: dt.date,
        purpose: str,
        bcva_right: str,
        bcva_left: str,
        bcva_right_logmar: float,
        bcva_left_logmar: float,
        slit_lamp_findings: str,
        actor: dict[str, Any],
    ) -> None:
        # The event is the exam's record (timeline, reminders); no rule reads it from the state.
        pass

    @event(BaselineSkinExamRecorded)
    def _baseline_skin_exam(self, clinical_date: dt.date, findings: str, actor: Any) -> None:
        self.baseline_skin_exam = {"date": clinical_date, "findings": findings}

    @event(DosingStarted)
    def _dosing_started(self, clinical_date: dt.date, actor: dict[str, Any]) -> None:
        self.first_dose_date = clinical_date
        self.dose_days.add(clinical_date)

    @event(DoseAdministered)
    def _dose_administered(self, clinical_date: dt.date, agents: list[str], actor: Any) -> None:
        self.dose_days.add(clinical_date)

    @event(DoseMissed)
    def _dose_missed(self, clinical_date: dt.date, reason: str, actor: Any) -> None:
        insort(self.missed_days, clinical_date)

    @event(DoseDeviationRecorded)
    def _dose_deviation(
        self,
        clinical_date: dt.date,
        agents: list[str],
        requirements: list[dict[str, Any]],
        reason: str,
        actor: Any,
    ) -> None:
        self.dose_days.add(clinical_date)
        self.deviations += 1

    @event(AERecorded)
    def _ae_recorded(
        self,
        ae_id: UUID,
        term: str,
        meddra_code: str,
        grade: int,
        ctcae_version: str,
        clinical_date: dt.date,
        attribution: str,
        serious: bool,
        occurrence: int,
        measurement: dict[str, Any] | None,
        eye: str | None,
        bcva_logmar: float | None,
        dlt_assessment: dict[str, Any],
        actor: dict[str, Any],
        ctcae_version_reason: str = "",
    ) -> None:
        verdict = dlt_assessment["verdict"]
        self.adverse_events[ae_id] = AdverseEvent(
            ae_id,
            term,
            grade,
            grade,
            ctcae_version,
            clinical_date,
            attribution,
            serious,
            occurrence,
            eye,
            bcva_logmar,
            dlt_verdict=verdict,
            dlt_criterion=dlt_assessment["criterion"],
            dlt_reached_on=None if verdict == "not_dlt" else clinical_date,
            grades=[grade],
        )
        if grade == 5:
            self.grade_5_on[ae_id] = clinical_date

    @event(AEGraded)
    def _ae_graded(
        self,
        ae_id: UUID,
        old_grade: int,
        new_grade: int,
        clinical_date: dt.date,
        measurement: dict[str, Any] | None,
        bcva_logmar: float | None,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        ae = self.adverse_events[ae_id]
        ae.regrade(new_grade)
        if new_grade == 5:
            self.grade_5_on.setdefault(ae_id, clinical_date)
        if bcva_logmar is not None:
            ae.bcva_logmar = bcva_logmar
        self._track_condition(ae, clinical_date)

    @event(AEResolved)
    def _ae_resolved(
        self, ae_id: UUID, old_grade: int, clinical_date: dt.date, actor: dict[str, Any]
    ) -> None:
        ae = self.adverse_events[ae_id]
        ae.resolved_on = clinical_date
        ae.regrade(0)
        self._track_condition(ae, clinical_date)

    def _track_condition(self, ae: AdverseEvent, on: dt.date) -> None:
        """A withhold's condition is met from the first day the AE's state meets it."""
        req = self.requirements.get(ae.id)
        if req is None or req.action != "withhold":
            return
        if req.is_met_by(ae, self.baseline_logmar(ae.eye)):
            if req.met_on is None:
                req.met_on = on
        else:
            req.met_on = None

    @event(DLTAssessed)
    def _dlt_assessed(
        self,
        ae_id: UUID,
        grade: int,
        clinical_date: dt.date,
        verdict: str,
        criterion: str,
        actor: dict[str, Any],
    ) -> None:
        ae = self.adverse_events[ae_id]
        ae.dlt_verdict = verdict
        ae.dlt_criterion = criterion
        ae.dlt_reached_on = None if verdict == "not_dlt" else clinical_date

    @event(SkinAssessed)
    def _skin_assessed(
        self,
        clinical_date: dt.date,
        grade: int,
        ctcae_version: str,
        location: str,
        bsa_percent: float,
        symptoms: str,
        ae_id: UUID | None,
        actor: dict[str, Any],
        ctcae_version_reason: str = "",
    ) -> None:
        self.skin_assessments.append(
            {
                "date": clinical_date,
                "grade": grade,
                "ctcae_version": ctcae_version,
                "location": location,
                "bsa_percent": bsa_percent,
                "symptoms": symptoms,
            }
        )

    @event(DoseRecommended)
    def _dose_recommended(
        self,
        ae_id: UUID | None,
        clinical_date: dt.date,
        recommendation: dict[str, Any],
        actor: dict[str, Any],
    ) -> None:
        if ae_id is None or recommendation["action"] == "resume":
            return
        new = requirement_from(ae_id, clinical_date, recommendation)
        current = supersede(self.requirements.get(ae_id), new)
        if current is None:
            self.requirements.pop(ae_id, None)
            return
        if current.action == "withhold" and current.held_since is None and self.on_hold:
            current.held_since = clinical_date  # dosing already stopped: its window opens now
        self.requirements[ae_id] = current
        ae = self.adverse_events.get(ae_id)
        if ae is not None:
            self._track_condition(ae, clinical_date)

    @event(DoseHeld)
    def _dose_held(
        self,
        ae_id: UUID | None,
        clinical_date: dt.date,
        resume: ResumeAt | None,
        resume_when_grade_at_most: int | None,
        resume_when_bcva_at_baseline: bool,
        deadline: dt.date | None,
        rule: str | None,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        # A new hold stops dosing for every pending withhold; during a hold, one AE's own
        # withhold joins it (its recovery window opens that day).
        joining = self.on_hold and ae_id is not None
        if not self.on_hold:
            self.holds.append(HoldPeriod(clinical_date, reason=reason))
        for req in self.requirements.values():
            held = req.action == "withhold" and req.held_since is None
            if held and (not joining or req.ae_id == ae_id):
                req.held_since = clinical_date

    @event(DoseReduced)
    def _dose_reduced(
        self,
        ae_id: UUID | None,
        clinical_date: dt.date,
        from_doses: list[dict[str, Any]],
        to_doses: list[dict[str, Any]],
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self.doses = [AgentDose.model_validate(d) for d in to_doses]
        for key, req in list(self.requirements.items()):
            if req.action == "reduce" and (ae_id is None or key == ae_id):
                del self.requirements[key]

    @event(DoseResumed)
    def _dose_resumed(
        self,
        clinical_date: dt.date,
        at: str,
        from_doses: list[dict[str, Any]],
        to_doses: list[dict[str, Any]],
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self.doses = [AgentDose.model_validate(d) for d in to_doses]
        if self.holds and self.holds[-1].end is None:
            self.holds[-1].end = clinical_date
        for key, req in list(self.requirements.items()):
            if req.action == "withhold":
                del self.requirements[key]

    @event(TreatmentDiscontinued)
    def _discontinued(
        self,
        ae_id: UUID | None,
        clinical_date: dt.date,
        agents: list[str],
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self.discontinued_agents = sorted({*self.discontinued_agents, *agents})
        if self.all_discontinued and self.discontinued_on is None:
            self.discontinued_on = clinical_date
        # Acted on: the discontinued agents never come back (discontinued_agents is permanent).
        for key, req in list(self.requirements.items()):
            if req.action == "discontinue":
                del self.requirements[key]

    @event(DLTCandidateRaised)
    def _dlt_candidate(self, ae_id: UUID, criterion: str, actor: dict[str, Any]) -> None:
        self.dlt_candidates[ae_id] = criterion

    @event(DLTCandidateRejected)
    def _dlt_candidate_rejected(self, ae_id: UUID, reason: str, actor: dict[str, Any]) -> None:
        self.dlt_candidates.pop(ae_id, None)

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
        if outcome == "dlt":
            self.dlt_outcome_ae = next(
                (
                    ae.id
                    for ae in self.adverse_events.values()
                    if ae.dlt_reached_on == clinical_date and ae.dlt_verdict != "not_dlt"
                ),
                None,
            )
            self.dlt_candidates.clear()

    @event(DLTOutcomeRevised)
    def _dlt_outcome_revised(
        self, old_outcome: str, new_outcome: Outcome | None, reason: str, actor: dict[str, Any]
    ) -> None:
        self.dlt_outcome = new_outcome
        if new_outcome != "dlt":
            self.dlt_outcome_ae = None

    @event(FactCorrected)
    def _fact_corrected(
        self,
        fact: str,
        ref: str,
        changes: dict[str, list[Any]],
        clinical_date: dt.date | None,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        if fact == "adverse_event":
            ae = self.adverse_events[UUID(ref)]
            for name, (_, new) in changes.items():
                if name == "grade":
                    ae.replace_last_grade(int(new))
                    # The recommendation recorded next, from the corrected grade, replaces it.
                    req = self.requirements.get(ae.id)
                    if req is not None and req.action == "discontinue":
                        del self.requirements[ae.id]
                elif name == "onset":
                    ae.onset = dt.date.fromisoformat(new)
                elif name == "attribution":
                    ae.attribution = str(new)
                elif name == "serious":
                    ae.serious = bool(new)
            self._track_condition(ae, clinical_date or ae.onset)
        elif fact == "dose":
            old_day, new_day = (dt.date.fromisoformat(d) for d in changes["clinical_date"])
            self.dose_days.remove(old_day)
            self.dose_days.add(new_day)
            if self.first_dose_date == old_day:
                self.first_dose_date = new_day

    @event(FactEnteredInError)
    def _fact_in_error(
        self,
        fact: str,
        ref: str,
        clinical_date: dt.date | None,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        if fact == "adverse_event":
            ae_id = UUID(ref)
            self.adverse_events[ae_id].in_error = True
            self.dlt_candidates.pop(ae_id, None)
            self.requirements.pop(ae_id, None)
        elif fact == "dose":
            self.dose_days.remove(dt.date.fromisoformat(ref))
        elif fact == "missed_dose":
            self.missed_days.remove(dt.date.fromisoformat(ref))

    # ----------------------------------------------------------------- queries

    @property
    def dlt_window_last_day(self) -> dt.date | None:
        """The last day of the DLT window (day 1 is the first dose), once dosing started."""
        if self.first_dose_date is None:
            return None
        return window_last_day(self.first_dose_date, self.dlt_window_days)

    @property
    def last_dose_date(self) -> dt.date | None:
        """The latest day a dose was recorded."""
        return self.dose_days.last

    @property
    def on_hold(self) -> bool:
        """True while a hold period is open (dosing withheld, no resume yet)."""
        return bool(self.holds) and self.holds[-1].end is None

    @property
    def current_hold(self) -> HoldPeriod | None:
        """The open hold period, if any."""
        return self.holds[-1] if self.on_hold else None

    @property
    def all_discontinued(self) -> bool:
        """True when every agent has been permanently discontinued."""
        return bool(self.doses) and all(d.agent in self.discontinued_agents for d in self.doses)

    @property
    def died_on(self) -> dt.date | None:
        """The day of a grade 5 AE (death), if any."""
        days = [
            self.grade_5_on.get(ae.id)
            or (ae.onset if ae.grades and ae.grades[0] == 5 else ae.resolved_on or ae.onset)
            for ae in self.adverse_events.values()
            if not ae.in_error and 5 in ae.grades
        ]
        return min(days) if days else None

    @property
    def left_study(self) -> bool:
        """True when the patient left the study before completing the window (replaced)."""
        return self.dlt_outcome == "not_evaluable"

    @property
    def withholds(self) -> list[Requirement]:
        """Open withhold requirements."""
        return withholds(self.requirements.values())

    @property
    def discontinue_requirements(self) -> list[Requirement]:
        """Open discontinue requirements (permanent)."""
        return discontinuations(self.requirements.values())

    @property
    def dosing_status(self) -> str:
        """not started, on treatment, withheld or discontinued (the most restrictive)."""
        if self.all_discontinued or self.died_on is not None:
            return "discontinued"
        if self.first_dose_date is None:
            return "not started"
        if self.on_hold or self.withholds or self.discontinue_requirements:
            return "withheld"
        return "on treatment"

    @property
    def status(self) -> str:
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

    def occurrences(self, term: str, *, excluding: UUID | None = None) -> int:
        """Earlier episodes of a term that reached grade 3 or worse."""
        return sum(
            1
            for ae in self.adverse_events.values()
            if ae.term == term and ae.worst_grade >= 3 and ae.id != excluding and not ae.in_error
        )

    def baseline_logmar(self, eye: str | None) -> float | None:
        """The baseline BCVA (logMAR) of one eye."""
        if self.baseline_eye_exam is None or eye is None:
            return None
        value: float = self.baseline_eye_exam[f"bcva_{eye}_logmar"]
        return value

    def unmet_withholds(self) -> list[Requirement]:
        """Withhold requirements whose resume condition does not hold now."""
        return [
            req
            for req in self.withholds
            if not req.is_met_by(
                self.adverse_events.get(req.ae_id),
                self.baseline_logmar(self._eye_of(req.ae_id)),
            )
        ]

    def hold_resumable(self) -> bool:
        """True when dosing is withheld and every withhold condition is met."""
        return self.on_hold and not self.unmet_withholds() and not self.discontinue_requirements

    def _eye_of(self, ae_id: UUID) -> str | None:
        ae = self.adverse_events.get(ae_id)
        return None if ae is None else ae.eye

    def dose_share(self, schedule: Schedule) -> DoseShare | None:
        """Planned, withheld and missed doses of the DLT window, once dosing started."""
        if self.first_dose_date is None:
            return None
        return dose_share(
            schedule, self.first_dose_date, self.dlt_window_days, self.holds, self.missed_days
        )

    # ----------------------------------------------------------------- guards

    def _check_date(
        self, day: dt.date, today: dt.date, *, field: str = "clinical_date", screening: bool = False
    ) -> None:
        check_clinical_date(day, today, self.enrolment_date, field=field, screening=screening)

    def _check_dosing_started(self) -> dt.date:
        if self.first_dose_date is None:
            raise CommandRefused(
                f"subject {self.subject_id} has not started dosing", rule="dosing_not_started"
            )
        return self.first_dose_date

    def _check_treated_on(self, day: dt.date, today: dt.date) -> None:
        """A date of an on-treatment record: from the first dose to the site's today."""
        first = self._check_dosing_started()
        self._check_date(day, today)
        check_not_before(day, first, "the first dose", rule="date_before_first_dose")

    def _check_in_study(self, day: dt.date | None = None) -> None:
        if self.left_study:
            raise CommandRefused(
                f"subject {self.subject_id} left the study (not evaluable)",
                rule="patient_withdrawn",
            )
        died = self.died_on
        if died is not None and (day is None or day > died):
            raise CommandRefused(
                f"subject {self.subject_id} died on {died} (grade 5 adverse event)",
                rule="patient_died",
            )

    def _check_death_after_doses(self, grade: int, day: dt.date) -> None:
        """A grade 5 (death) is not dated before a dose already recorded."""
        last = self.last_dose_date
        if grade == 5 and last is not None and day < last:
            raise CommandRefused(
                f"a dose is recorded on {last}: a grade 5 (death) cannot be dated before it "
                "(correct that dose or mark it entered in error first)",
                rule="date_before_last_dose",
                field="clinical_date",
            )

    def _check_not_discontinued(self) -> None:
        if self.all_discontinued:
            raise CommandRefused(
                f"treatment of subject {self.subject_id} was discontinued on "
                f"{self.discontinued_on}; a discontinuation is permanent",
                rule="treatment_discontinued",
            )

    # ----------------------------------------------------------------- commands: screening

    def record_baseline_eye_exam(
        self,
        clinical_date: dt.date,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        today: dt.date,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record the baseline ophthalmology exam (BCVA per eye, slit lamp) before dosing."""
        check_before_dosing(self.first_dose_date, "eye")
        self._check_date(clinical_date, today, screening=True)
        self._baseline_eye_exam(
            clinical_date=clinical_date,
            **exam_acuity(bcva_right, bcva_left),
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def record_eye_exam(
        self,
        clinical_date: dt.date,
        purpose: str,
        bcva_right: str,
        bcva_left: str,
        actor: Actor,
        *,
        today: dt.date,
        slit_lamp_findings: str = "",
    ) -> None:
        """Record an eye exam: ``baseline`` (before dosing), ``follow_up`` or ``referral``."""
        if purpose == "baseline":
            self.record_baseline_eye_exam(
                clinical_date,
                bcva_right,
                bcva_left,
                actor,
                today=today,
                slit_lamp_findings=slit_lamp_findings,
            )
            return
        if purpose not in EYE_EXAM_PURPOSES:
            raise InvalidInput(
                f"unknown eye exam purpose '{purpose}'; purposes: baseline, "
                f"{', '.join(EYE_EXAM_PURPOSES)}",
                field="purpose",
            )
        first = self._check_dosing_started()
        if clinical_date < first:
            raise CommandRefused(
                f"exam date {clinical_date} is before the first dose ({first}); record it as "
                "the baseline exam",
                rule="exam_before_first_dose",
                field="clinical_date",
            )
        self._check_date(clinical_date, today)
        self._eye_exam(
            clinical_date=clinical_date,
            purpose=purpose,
            **exam_acuity(bcva_right, bcva_left),
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def record_baseline_skin_exam(
        self, clinical_date: dt.date, findings: str, actor: Actor, *, today: dt.date
    ) -> None:
        """Record the baseline skin examination (pre-existing dermatologic conditions)."""
        check_before_dosing(self.first_dose_date, "skin")
        self._check_date(clinical_date, today, screening=True)
        if not findings.strip():
            raise CommandRefused(
                "a baseline skin examination records its findings (e.g. 'no pre-existing "
                "dermatologic conditions')",
                rule="findings_required",
                field="findings",
            )
        self._baseline_skin_exam(
            clinical_date=clinical_date, findings=findings.strip(), actor=actor.as_record()
        )

    # ----------------------------------------------------------------- commands: dosing

    def start_dosing(self, clinical_date: dt.date, actor: Actor, *, today: dt.date) -> None:
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
        self, clinical_date: dt.date, actor: Actor, *, today: dt.date, deviation_reason: str = ""
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
        self, clinical_date: dt.date, actor: Actor, *, today: dt.date, reason: str = ""
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

    # ----------------------------------------------------------------- commands: AEs

    def record_adverse_event(
        self,
        ae_id: UUID,
        term: CtcaeTerm,
        grade: int | None,
        onset: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        attribution: str,
        serious: bool = False,
        ctcae_version: str | None = None,
        ctcae_version_reason: str = "",
        measurement: dict[str, Any] | None = None,
        intolerable: bool = False,
        eye: str | None = None,
        bcva: str | None = None,
        clinically_significant: bool = True,
        with_bleeding: bool = False,
        duration_days: int | None = None,
    ) -> tuple[DoseRecommendation, DltAssessment]:
        """Record an AE; the rule set's recommendation (and DLT verdict) are recorded with it."""
        self._check_treated_on(onset, today)
        self._check_in_study(onset)
        if attribution not in ATTRIBUTIONS:
            raise InvalidInput(
                f"unknown attribution '{attribution}'; attributions: {', '.join(ATTRIBUTIONS)}",
                field="attribution",
            )
        if ae_id in self.adverse_events:
            raise CommandRefused(f"adverse event {ae_id} exists already", rule="ae_exists")
        open_same = [a for a in self.adverse_events.values() if a.term == term.term and a.is_open]
        if open_same:
            raise CommandRefused(
                f"{term.term} is already open for subject {self.subject_id} (AE {open_same[0].id}, "
                f"grade {open_same[0].grade}); record a grade change instead",
                rule="ae_already_open",
                field="term",
            )
        version = _ctcae_version(protocol, term.term, ctcae_version, ctcae_version_reason)
        grade, acuity = self._vision(term.term, grade, eye, bcva)
        if grade not in term.grades:
            allowed = ", ".join(str(g) for g in term.grades)
            raise InvalidInput(
                f"{term.term} has no grade {grade} in CTCAE v5.0; allowed grades: {allowed}",
                field="grade",
            )
        self._check_death_after_doses(grade, onset)
        occurrence = self.occurrences(term.term) + (1 if grade >= 3 else 0) or 1
        facts = AdverseEventFacts(
            term=term.term,
            grade=grade,
            haematological=term.is_haematological,
            occurrence=occurrence,
            intolerable=intolerable,
            bcva=acuity,
            baseline_bcva=self._baseline_acuity(eye),
        )
        rec = recommend_dose(protocol, facts, can_reduce=can_reduce(protocol, self.doses))
        assessment = self._assess(
            term,
            grade,
            attribution,
            onset,
            protocol,
            clinically_significant=clinically_significant,
            with_bleeding=with_bleeding,
            duration_days=duration_days,
        )
        self._ae_recorded(
            ae_id=ae_id,
            term=term.term,
            meddra_code=term.meddra_code,
            grade=grade,
            ctcae_version=version,
            clinical_date=onset,
            attribution=attribution,
            serious=serious,
            occurrence=occurrence,
            measurement=measurement,
            eye=eye,
            bcva_logmar=None if acuity is None else acuity.logmar,
            dlt_assessment={"verdict": assessment.verdict, "criterion": assessment.criterion},
            actor=actor.as_record(),
            ctcae_version_reason=ctcae_version_reason.strip(),
        )
        self._recommend(ae_id, onset, rec, actor)
        if assessment.verdict == "candidate":
            self._dlt_candidate(
                ae_id=ae_id, criterion=assessment.criterion, actor=actor.as_record()
            )
        return rec, assessment

    def _assess(
        self,
        term: CtcaeTerm,
        grade: int,
        attribution: str,
        reached_on: dt.date,
        protocol: Protocol,
        *,
        clinically_significant: bool = True,
        with_bleeding: bool = False,
        duration_days: int | None = None,
    ) -> DltAssessment:
        """The DLT verdict for an AE at ``grade`` reached on ``reached_on`` (§6)."""
        first, last = self.first_dose_date, self.dlt_window_last_day
        window = None if first is None or last is None else (first, last)
        assessment = assess_dlt(
            term,
            grade,
            attribution=attribution,
            onset=reached_on,
            window=window,
            criteria=protocol.dlt_criteria,
            clinically_significant=clinically_significant,
            with_bleeding=with_bleeding,
            duration_days=duration_days,
        )
        if self.dlt_outcome == "dlt" and assessment.verdict != "not_dlt":
            return DltAssessment("not_dlt", "the DLT window already closed with a DLT")
        return assessment

    def _vision(
        self, term: str, grade: int | None, eye: str | None, bcva: str | None
    ) -> tuple[int, VisualAcuity | None]:
        if bcva is None:
            if grade is None:
                raise InvalidInput("an adverse event needs a grade", field="grade")
            return grade, None
        if term != BLURRED_VISION:
            raise InvalidInput("BCVA is recorded with blurred vision only", field="bcva")
        if eye not in EYES:
            raise InvalidInput("BCVA needs the eye: right or left", field="eye")
        baseline = self._baseline_acuity(eye)
        if baseline is None:
            raise CommandRefused("no baseline BCVA to compare with", rule="no_baseline_bcva")
        acuity = parse_bcva(bcva)
        graded = grade_blurred_vision(acuity, baseline) or 1
        if grade is not None and grade != graded:
            raise InvalidInput(
                f"grade {grade} does not match BCVA {bcva} against baseline "
                f"{baseline.snellen} (grade {graded})",
                field="grade",
            )
        return graded, acuity

    def _baseline_acuity(self, eye: str | None) -> VisualAcuity | None:
        logmar = self.baseline_logmar(eye)
        return None if logmar is None else VisualAcuity(logmar)

    def _recommend(
        self,
        ae_id: UUID | None,
        clinical_date: dt.date,
        recommendation: DoseRecommendation,
        actor: Actor,
    ) -> DoseRecommendation:
        """Record what the system recommends (on behalf of the actor whose command it is)."""
        system = {**SYSTEM.as_record(), "on_behalf_of": actor.user_id}
        if actor.request_id:
            system["request_id"] = actor.request_id
        self._dose_recommended(
            ae_id=ae_id,
            clinical_date=clinical_date,
            recommendation=recommendation.as_record(),
            actor=system,
        )
        return recommendation

    def change_ae_grade(
        self,
        ae_id: UUID,
        new_grade: int,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        protocol: Protocol,
        term: CtcaeTerm,
        reason: str = "",
        measurement: dict[str, Any] | None = None,
        bcva: str | None = None,
        intolerable: bool = False,
    ) -> GradeChange:
        """Record a new grade for an open AE (0 = resolved): its recommendation, if any, and
        its DLT verdict when a worsening reaches a DLT grade inside the window."""
        ae = self._open_ae(ae_id, clinical_date)
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        acuity = None
        if bcva is not None:
            new_grade, acuity = self._vision(ae.term, None, ae.eye, bcva)
        if new_grade != 0 and new_grade not in term.grades:
            allowed = ", ".join(str(g) for g in term.grades)
            raise InvalidInput(
                f"{ae.term} has no grade {new_grade} in CTCAE v5.0; allowed grades: 0 "
                f"(resolved), {allowed}",
                field="grade",
            )
        if new_grade == ae.grade and acuity is None:
            raise CommandRefused(
                f"AE {ae_id} is already grade {ae.grade}", rule="grade_unchanged", field="grade"
            )
        self._check_death_after_doses(new_grade, clinical_date)
        old = ae.grade
        if new_grade == 0:
            self._ae_resolved(
                ae_id=ae_id, old_grade=old, clinical_date=clinical_date, actor=actor.as_record()
            )
        else:
            self._ae_graded(
                ae_id=ae_id,
                old_grade=old,
                new_grade=new_grade,
                clinical_date=clinical_date,
                measurement=measurement,
                bcva_logmar=None if acuity is None else acuity.logmar,
                reason=reason,
                actor=actor.as_record(),
            )
        dlt = self._reassess_dlt(ae, clinical_date, actor, protocol, term)
        recommendation = self._after_grade_change(
            ae, old, clinical_date, actor, protocol, term, intolerable
        )
        return GradeChange(recommendation, dlt)

    def _reassess_dlt(
        self,
        ae: AdverseEvent,
        on: dt.date,
        actor: Actor,
        protocol: Protocol,
        term: CtcaeTerm,
    ) -> DltAssessment | None:
        """§6: an AE recorded at a DLT grade on a day inside the window counts as if reported
        at it: a worsening, or a late entry dated before a later grade change or assessment
        (the AE was at that grade then, even if it reached it again outside the window)."""
        if ae.grade == 0 or ae.dlt_verdict == "dlt":
            return None
        assessment = self._assess(term, ae.grade, ae.attribution, on, protocol)
        if assessment.verdict == "not_dlt" or assessment.verdict == ae.dlt_verdict:
            return None
        self._dlt_assessed(
            ae_id=ae.id,
            grade=ae.grade,
            clinical_date=on,
            verdict=assessment.verdict,
            criterion=assessment.criterion,
            actor=actor.as_record(),
        )
        if assessment.verdict == "candidate" and ae.id not in self.dlt_candidates:
            self._dlt_candidate(
                ae_id=ae.id, criterion=assessment.criterion, actor=actor.as_record()
            )
        return assessment

    def adverse_event(self, ae_id: UUID) -> AdverseEvent:
        """One of the patient's AEs, or CommandRefused naming it."""
        ae = self.adverse_events.get(ae_id)
        if ae is None or ae.in_error:
            raise CommandRefused(
                f"subject {self.subject_id} has no adverse event {ae_id}",
                rule="ae_not_found",
                field="ae_id",
            )
        return ae

    def _open_ae(self, ae_id: UUID, clinical_date: dt.date) -> AdverseEvent:
        ae = self.adverse_event(ae_id)
        if not ae.is_open:
            raise CommandRefused(
                f"AE {ae_id} ({ae.term}) resolved on {ae.resolved_on}; record a new AE",
                rule="ae_resolved",
                field="ae_id",
            )
        if clinical_date < ae.onset:
            raise CommandRefused(
                f"{clinical_date} is before the AE's onset ({ae.onset})",
                rule="date_before_onset",
                field="clinical_date",
            )
        return ae

    def _after_grade_change(
        self,
        ae: AdverseEvent,
        old: int,
        clinical_date: dt.date,
        actor: Actor,
        protocol: Protocol,
        term: CtcaeTerm,
        intolerable: bool,
    ) -> DoseRecommendation | None:
        req = self.requirements.get(ae.id)
        if req is not None and req.action == "withhold" and ae.grade <= old:
            if req.deadline is not None and clinical_date > req.deadline and not req.met_in_time:
                late = self.review_hold(clinical_date, protocol, actor=actor)
                return late[0] if late else None
            if self.hold_resumable():
                resume = self._resume_recommendation(protocol)
                return self._recommend(ae.id, clinical_date, resume, actor)
            return None
        if ae.grade > old or (ae.grade == old and ae.bcva_logmar is not None):
            recommendation = self._evaluate(ae, protocol, term, intolerable)
            return self._recommend(ae.id, clinical_date, recommendation, actor)
        return None

    def _evaluate(
        self, ae: AdverseEvent, protocol: Protocol, term: CtcaeTerm, intolerable: bool = False
    ) -> DoseRecommendation:
        """The rule set's recommendation for the AE as it stands now."""
        occurrence = self.occurrences(ae.term, excluding=ae.id) + (1 if ae.grade >= 3 else 0)
        facts = AdverseEventFacts(
            term=ae.term,
            grade=ae.grade,
            haematological=term.is_haematological,
            occurrence=occurrence or 1,
            intolerable=intolerable,
            bcva=None if ae.bcva_logmar is None else VisualAcuity(ae.bcva_logmar),
            baseline_bcva=self._baseline_acuity(ae.eye),
        )
        return recommend_dose(protocol, facts, can_reduce=can_reduce(protocol, self.doses))

    def _resume_recommendation(self, protocol: Protocol) -> DoseRecommendation:
        rule_set = rule_set_for(protocol)
        reqs = self.withholds
        conditions = "; ".join(r.condition() for r in reqs) or "investigator's decision"
        return DoseRecommendation(
            action="resume",
            resume=resume_rung(reqs),
            resume_when_grade_at_most=None,
            resume_when_bcva_at_baseline=False,
            within_days=None,
            discontinue_all_agents=False,
            rule_set=rule_set.id,
            rule_set_version=rule_set.version,
            rule=", ".join(sorted({r.rule for r in reqs})) or "investigator-hold",
            note=f"every resume condition met: {conditions}",
        )

    def review_hold(
        self, as_of: dt.date, protocol: Protocol, *, actor: Actor = SYSTEM
    ) -> list[DoseRecommendation]:
        """Recommend discontinuation for each held AE whose recovery deadline passed unmet."""
        recommended = []
        for req in list(self.withholds):
            deadline = req.deadline
            if deadline is None or as_of <= deadline or req.met_in_time or not req.rule:
                continue
            try:
                late = recommend_not_recovered(protocol, req.rule)
            except InvalidInput:
                continue  # the rule sets no recovery deadline
            note = f"not recovered by {deadline} ({req.condition()})"
            recommended.append(self._recommend(req.ae_id, as_of, replace(late, note=note), actor))
        return recommended

    # ----------------------------------------------------------------- commands: dose actions

    @staticmethod
    def _check_reason(departs: bool, reason: str, what: str, recommended: str) -> None:
        if departs and not reason.strip():
            raise CommandRefused(
                f"{what} departs from the recommendation ({recommended}); a reason is required",
                rule="reason_required",
                field="reason",
            )

    def _open_for_action(self, clinical_date: dt.date, today: dt.date, ae_id: UUID | None) -> None:
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

    def _pending(self, action: str, ae_id: UUID | None) -> list[Requirement]:
        """Requirements asking for ``action`` not yet acted on (for one AE, when named)."""
        found = [
            r
            for r in self.requirements.values()
            if r.action == action and (ae_id is None or r.ae_id == ae_id)
        ]
        if action == "withhold":
            found = [r for r in found if r.held_since is None]
        return found

    def _describe_open(self) -> str:
        if not self.requirements:
            return "continue"
        return "; ".join(f"{r.action}, rule {r.rule}" for r in self.requirements.values())

    def hold_dose(
        self,
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
        self,
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

    def _check_can_reduce(self, protocol: Protocol) -> None:
        if not can_reduce(protocol, self.doses):
            doses = ", ".join(d.label for d in self.doses)
            raise CommandRefused(
                f"subject {self.subject_id} is at the bottom of the reduction ladder ({doses}); "
                "a further reduction is a discontinuation: record discontinue",
                rule="ladder_exhausted",
            )

    def resume_dose(
        self,
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
        self,
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

    # ----------------------------------------------------------------- commands: skin

    def record_skin_assessment(
        self,
        clinical_date: dt.date,
        actor: Actor,
        *,
        today: dt.date,
        location: str,
        bsa_percent: float,
        symptoms: str,
        ctcae_version: str | None = None,
        ctcae_version_reason: str = "",
        life_threatening: bool = False,
        new_ae_id: UUID,
        protocol: Protocol,
        term: CtcaeTerm,
        attribution: str = "possible",
        intolerable: bool = False,
    ) -> SkinResult:
        """Record a visit's skin assessment; a rash grade opens, changes or resolves the rash AE."""
        self._check_treated_on(clinical_date, today)
        self._check_in_study(clinical_date)
        if not location.strip() and bsa_percent > 0:
            raise InvalidInput("a rash's location is required", field="location")
        version = _ctcae_version(protocol, RASH, ctcae_version, ctcae_version_reason)
        grade = grade_rash_acneiform(
            bsa_percent,
            symptoms,  # type: ignore[arg-type]
            version=version,  # type: ignore[arg-type]
            life_threatening=life_threatening,
        )
        open_rash = next(
            (a for a in self.adverse_events.values() if a.term == RASH and a.is_open), None
        )
        if open_rash is not None and clinical_date < open_rash.onset:
            raise CommandRefused(
                f"{clinical_date} is before the open rash's onset ({open_rash.onset})",
                rule="date_before_onset",
                field="clinical_date",
            )
        self._skin_assessed(
            clinical_date=clinical_date,
            grade=grade,
            ctcae_version=version,
            location=location.strip(),
            bsa_percent=bsa_percent,
            symptoms=symptoms,
            ae_id=open_rash.id if open_rash else (new_ae_id if grade else None),
            actor=actor.as_record(),
            ctcae_version_reason=ctcae_version_reason.strip(),
        )
        if open_rash is not None and open_rash.grade != grade:
            change = self.change_ae_grade(
                open_rash.id,
                grade,
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                term=term,
                measurement={"bsa_percent": bsa_percent, "symptoms": symptoms},
                reason="skin assessment",
                intolerable=intolerable,
            )
            return SkinResult(grade, open_rash.id, change.recommendation, change.dlt)
        if open_rash is not None and grade > 0:
            # The same grade, perhaps on an earlier day than it was recorded before.
            dlt = self._reassess_dlt(open_rash, clinical_date, actor, protocol, term)
            return SkinResult(grade, open_rash.id, None, dlt)
        if open_rash is None and grade > 0:
            record, assessment = self.record_adverse_event(
                new_ae_id,
                term,
                grade,
                clinical_date,
                actor,
                today=today,
                protocol=protocol,
                attribution=attribution,
                ctcae_version=version,
                ctcae_version_reason=ctcae_version_reason,
                intolerable=intolerable,
                measurement={
                    "bsa_percent": bsa_percent,
                    "symptoms": symptoms,
                    "location": location.strip(),
                },
            )
            dlt = None if assessment.verdict == "not_dlt" else assessment
            return SkinResult(grade, new_ae_id, record, dlt)
        return SkinResult(grade, None if open_rash is None else open_rash.id, None, None)

    # ----------------------------------------------------------------- commands: DLT window

    def reject_dlt_candidate(self, ae_id: UUID, reason: str, actor: Actor) -> None:
        """The SRC decided an exception-class AE is not a DLT."""
        self._check_candidate(ae_id)
        self._dlt_candidate_rejected(ae_id=ae_id, reason=reason, actor=actor.as_record())

    def _check_candidate(self, ae_id: UUID) -> None:
        if ae_id not in self.dlt_candidates:
            raise CommandRefused(
                f"AE {ae_id} of subject {self.subject_id} is not a DLT candidate awaiting "
                "adjudication",
                rule="no_such_candidate",
                field="ae_id",
            )

    def confirm_dlt_candidate(self, ae_id: UUID, actor: Actor) -> str:
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

    def record_dlt(self, ae_id: UUID, actor: Actor, *, description: str) -> None:
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
        self,
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

    def open_dlt(self) -> AdverseEvent | None:
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

    def revise_outcome_for_dlt(self, ae: AdverseEvent, actor: Actor, reason: str) -> str:
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

    def reopen_window_for_candidate(self, actor: Actor, reason: str) -> None:
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

    # ----------------------------------------------------------------- commands: corrections

    def correct_adverse_event(
        self,
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
        self, fact: str, ref: str, actor: Actor, *, reason: str, protocol: Protocol
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
        self, old: dt.date, new: dt.date, actor: Actor, *, today: dt.date, reason: str
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
        self,
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

    def _window(self) -> tuple[dt.date, dt.date] | None:
        first, last = self.first_dose_date, self.dlt_window_last_day
        return None if first is None or last is None else (first, last)
