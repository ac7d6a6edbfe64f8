"""The Patient aggregate: the events named on it and the methods that apply them.

This module holds what the event-sourcing library needs on the class itself: the events (defined
in ``events``) named on the class and the ``@event`` methods that apply them (the metaclass looks
for both in the class's own namespace). The commands live in mixins by concern (``exams``,
``dosing``, ``adverse_events``, ``dlt``, ``corrections``), with ``queries`` and ``guards``; the
rules they apply in pure modules beside them: ``requirements`` (what each open AE requires, §5a),
``dlt_window`` (days, evaluability), ``clinical_dates`` (§7a) and the domain's rule sets and DLT
policy.
"""

from __future__ import annotations

import datetime as dt
from bisect import insort
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.adverse_event import AdverseEvent, ResumeAt
from domain.cohort import Outcome
from domain.patient import events
from domain.patient.adverse_events import AdverseEventCommands
from domain.patient.corrections import CorrectionCommands
from domain.patient.dlt import DltWindowCommands
from domain.patient.dosing import DosingCommands
from domain.patient.dosing_record import DayRuns
from domain.patient.exams import ExamCommands
from domain.patient.guards import PatientGuards
from domain.patient.queries import PatientQueries
from domain.patient.requirements import HoldPeriod, Requirement, requirement_from, supersede
from domain.protocol import AgentDose


class Patient(
    PatientQueries,
    PatientGuards,
    ExamCommands,
    DosingCommands,
    AdverseEventCommands,
    DltWindowCommands,
    CorrectionCommands,
    Aggregate,
):
    """One study subject, identified by a pseudonymous subject id, rebuilt from its events."""

    TOPIC = "doseledger:patient"
    # Of the state: a snapshot of another one is not used (2: requirements per AE, hold periods,
    # dose days as runs, grade_5_on).
    class_version = 2

    # The events (patient/events.py), named here for the metaclass: keep this order.
    Created = events.Created
    Enrolled = events.Enrolled
    Event = events.Event
    BaselineEyeExamRecorded = events.BaselineEyeExamRecorded
    EyeExamRecorded = events.EyeExamRecorded
    BaselineSkinExamRecorded = events.BaselineSkinExamRecorded
    DosingStarted = events.DosingStarted
    DoseAdministered = events.DoseAdministered
    AERecorded = events.AERecorded
    AEGraded = events.AEGraded
    AEResolved = events.AEResolved
    SkinAssessed = events.SkinAssessed
    DoseRecommended = events.DoseRecommended
    DoseHeld = events.DoseHeld
    DoseReduced = events.DoseReduced
    DoseResumed = events.DoseResumed
    TreatmentDiscontinued = events.TreatmentDiscontinued
    DLTCandidateRaised = events.DLTCandidateRaised
    DLTCandidateRejected = events.DLTCandidateRejected
    DLTWindowClosed = events.DLTWindowClosed
    DLTAssessed = events.DLTAssessed
    DoseMissed = events.DoseMissed
    DoseDeviationRecorded = events.DoseDeviationRecorded
    FactCorrected = events.FactCorrected
    FactEnteredInError = events.FactEnteredInError
    DLTOutcomeRevised = events.DLTOutcomeRevised

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
