"""The Patient aggregate: enrolment, baseline exams, dosing, adverse events, holds, DLT window."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import SYSTEM, Actor
from domain.adverse_event import AdverseEvent, Hold, ResumeAt
from domain.cohort import OUTCOMES, Outcome
from domain.ctcae import CtcaeTerm
from domain.dlt_policy import ATTRIBUTIONS, DltAssessment, assess_dlt
from domain.dose_ladder import agents_to_discontinue, can_reduce, reduced
from domain.errors import CommandRefused, InvalidInput
from domain.grading import grade_blurred_vision, grade_rash_acneiform
from domain.protocol import AgentDose, Protocol
from domain.rules import AdverseEventFacts, recommend_dose, recommend_not_recovered, rule_set_for
from domain.snapshots import AggregateSnapshot
from domain.state_copy import clone_aggregate
from domain.vision import VisualAcuity, parse_bcva

BLURRED_VISION = "Blurred vision"
RASH = "Rash acneiform"
EYES = ("right", "left")
EYE_EXAM_PURPOSES = ("follow_up", "referral")
"""Why an on-treatment eye exam was done: the scheduled follow-up, or a visual-AE referral."""


def _acuity(bcva_right: str, bcva_left: str) -> dict[str, Any]:
    """An exam's BCVA fields: as written, and in logMAR (refused when unreadable)."""
    return {
        "bcva_right": bcva_right.strip(),
        "bcva_left": bcva_left.strip(),
        "bcva_right_logmar": parse_bcva(bcva_right).logmar,
        "bcva_left_logmar": parse_bcva(bcva_left).logmar,
    }


class Patient(Aggregate):
    """One study subject, identified by a pseudonymous subject id, rebuilt from its events."""

    TOPIC = "doseledger:patient"
    class_version = 2  # 2: enrolment_date, site_time_zone
    __deepcopy__ = clone_aggregate

    class Created(Aggregate.Created):
        TOPIC = "doseledger:patient.Created"

    class Enrolled(Created):
        TOPIC = "doseledger:patient.Enrolled"
        class_version = 2  # 2: enrolment_date, site_time_zone
        trial_id: UUID
        subject_id: str
        site_id: str
        cohort: int
        level: int
        doses: list[dict[str, Any]]
        dlt_window_days: int
        actor: dict[str, Any]
        enrolment_date: dt.date
        site_time_zone: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Enrolments stored before: enrolled on their recording's UTC date, in UTC."""
            state["enrolment_date"] = state["timestamp"].astimezone(dt.UTC).date()
            state["site_time_zone"] = "UTC"

    class Event(Aggregate.Event):
        TOPIC = "doseledger:patient.Event"

    class Snapshot(AggregateSnapshot):
        TOPIC = "doseledger:patient.Snapshot"
        class_version = 3  # 3: the state as one compact JSON text (see AggregateSnapshot)

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
        class_version = 1
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
        class_version = 1
        clinical_date: dt.date
        grade: int
        ctcae_version: str
        location: str
        bsa_percent: float
        symptoms: str
        ae_id: UUID | None
        actor: dict[str, Any]

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
        enrolment_date: dt.date,
        site_time_zone: str,
    ):
        self.trial_id = trial_id
        self.enrolment_date = enrolment_date
        self.site_time_zone = site_time_zone
        self.subject_id = subject_id
        self.site_id = site_id
        self.cohort = cohort
        self.level = level
        self.doses = [AgentDose.model_validate(d) for d in doses]
        self.dlt_window_days = dlt_window_days
        self.baseline_eye_exam: dict[str, Any] | None = None
        self.baseline_skin_exam: dict[str, Any] | None = None
        self.first_dose_date: dt.date | None = None
        self.last_dose_date: dt.date | None = None
        self.dlt_outcome: Outcome | None = None
        self.dlt_candidates: dict[UUID, str] = {}
        self.adverse_events: dict[UUID, AdverseEvent] = {}
        self.recommendations: list[dict[str, Any]] = []
        self.open_recommendation: dict[str, Any] | None = None
        self.hold: Hold | None = None
        self.discontinued_agents: list[str] = []
        self.skin_assessments: list[dict[str, Any]] = []

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken before enrolment dates: as the Enrolled event's upcaster fills them."""
        state.setdefault("enrolment_date", state["_created_on"].astimezone(dt.UTC).date())
        state.setdefault("site_time_zone", "UTC")

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
        self.last_dose_date = clinical_date

    @event(DoseAdministered)
    def _dose_administered(self, clinical_date: dt.date, agents: list[str], actor: Any) -> None:
        self.last_dose_date = clinical_date

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
    ) -> None:
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
            dlt_verdict=dlt_assessment["verdict"],
            dlt_criterion=dlt_assessment["criterion"],
        )

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
        ae.grade = new_grade
        ae.worst_grade = max(ae.worst_grade, new_grade)
        if bcva_logmar is not None:
            ae.bcva_logmar = bcva_logmar

    @event(AEResolved)
    def _ae_resolved(
        self, ae_id: UUID, old_grade: int, clinical_date: dt.date, actor: dict[str, Any]
    ) -> None:
        ae = self.adverse_events[ae_id]
        ae.resolved_on = clinical_date
        ae.grade = 0

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
        record = {**recommendation, "ae_id": ae_id, "date": clinical_date}
        self.recommendations.append(record)
        if recommendation["action"] != "continue":
            self.open_recommendation = record

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
        self.hold = Hold(
            clinical_date,
            ae_id,
            resume,
            resume_when_grade_at_most,
            resume_when_bcva_at_baseline,
            deadline,
            rule,
        )
        self.open_recommendation = None

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
        self.open_recommendation = None

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
        self.hold = None
        self.open_recommendation = None

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
        self.hold = None
        self.open_recommendation = None

    @event(DLTCandidateRaised)
    def _dlt_candidate(self, ae_id: UUID, criterion: str, actor: dict[str, Any]) -> None:
        self.dlt_candidates[ae_id] = criterion

    @event(DLTCandidateRejected)
    def _dlt_candidate_rejected(self, ae_id: UUID, reason: str, actor: dict[str, Any]) -> None:
        del self.dlt_candidates[ae_id]

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
            self.dlt_candidates.clear()

    # ----------------------------------------------------------------- queries

    @property
    def dlt_window_last_day(self) -> dt.date | None:
        """The last day of the DLT window (day 1 is the first dose), once dosing started."""
        if self.first_dose_date is None:
            return None
        return self.first_dose_date + dt.timedelta(days=self.dlt_window_days - 1)

    @property
    def all_discontinued(self) -> bool:
        """True when every agent has been permanently discontinued."""
        return bool(self.doses) and all(d.agent in self.discontinued_agents for d in self.doses)

    @property
    def dosing_status(self) -> str:
        """not started, on treatment, withheld or discontinued."""
        if self.all_discontinued:
            return "discontinued"
        if self.first_dose_date is None:
            return "not started"
        return "withheld" if self.hold is not None else "on treatment"

    @property
    def status(self) -> str:
        """Where the patient is in the study, in words a site would use."""
        if self.dlt_outcome == "not_evaluable":
            return "not evaluable (replaced)"
        if self.all_discontinued:
            return "treatment discontinued"
        if self.first_dose_date is None:
            ready = self.baseline_eye_exam is not None and self.baseline_skin_exam is not None
            return "ready to dose" if ready else "screening"
        if self.hold is not None:
            return "dose withheld"
        if self.dlt_outcome is None:
            return "in DLT window"
        return "on treatment"

    def occurrences(self, term: str, *, excluding: UUID | None = None) -> int:
        """Earlier episodes of a term that reached grade 3 or worse."""
        return sum(
            1
            for ae in self.adverse_events.values()
            if ae.term == term and ae.worst_grade >= 3 and ae.id != excluding
        )

    def baseline_logmar(self, eye: str | None) -> float | None:
        """The baseline BCVA (logMAR) of one eye."""
        if self.baseline_eye_exam is None or eye is None:
            return None
        value: float = self.baseline_eye_exam[f"bcva_{eye}_logmar"]
        return value

    def hold_resumable(self) -> bool:
        """True when the current hold's resume condition is met."""
        if self.hold is None:
            return False
        ae = None if self.hold.ae_id is None else self.adverse_events[self.hold.ae_id]
        eye = None if ae is None else ae.eye
        return self.hold.is_met(ae, self.baseline_logmar(eye))

    # ----------------------------------------------------------------- commands: screening

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
        self._check_before_dosing("eye", clinical_date)
        self._baseline_eye_exam(
            clinical_date=clinical_date,
            **_acuity(bcva_right, bcva_left),
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
        slit_lamp_findings: str = "",
    ) -> None:
        """Record an eye exam: ``baseline`` (before dosing), ``follow_up`` or ``referral``."""
        if purpose == "baseline":
            self.record_baseline_eye_exam(
                clinical_date, bcva_right, bcva_left, actor, slit_lamp_findings=slit_lamp_findings
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
        self._eye_exam(
            clinical_date=clinical_date,
            purpose=purpose,
            **_acuity(bcva_right, bcva_left),
            slit_lamp_findings=slit_lamp_findings,
            actor=actor.as_record(),
        )

    def record_baseline_skin_exam(
        self, clinical_date: dt.date, findings: str, actor: Actor
    ) -> None:
        """Record the baseline skin examination (pre-existing dermatologic conditions)."""
        self._check_before_dosing("skin", clinical_date)
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

    def _check_before_dosing(self, exam: str, clinical_date: dt.date) -> None:
        if self.first_dose_date is not None:
            raise CommandRefused(
                f"dosing started on {self.first_dose_date}; a baseline {exam} exam comes before it",
                rule="baseline_after_dosing",
                field="clinical_date",
            )

    def start_dosing(self, clinical_date: dt.date, actor: Actor) -> None:
        """Record the first dose; refused without the baseline eye and skin exams."""
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
        for exam, record in (("eye", self.baseline_eye_exam), ("skin", self.baseline_skin_exam)):
            if record is None:
                raise CommandRefused(
                    f"subject {self.subject_id} has no baseline {exam} exam; "
                    "dosing must not start without it",
                    rule=f"baseline_{exam}_exam_required",
                )
            if clinical_date < record["date"]:
                raise CommandRefused(
                    f"first dose {clinical_date} is before the baseline {exam} exam "
                    f"({record['date']})",
                    rule="dose_before_baseline",
                    field="clinical_date",
                )
        self._dosing_started(clinical_date=clinical_date, actor=actor.as_record())

    def administer_dose(self, clinical_date: dt.date, actor: Actor) -> None:
        """Record a dose given; refused while withheld or discontinued."""
        self._check_dosing_started()
        if self.all_discontinued:
            raise CommandRefused(
                f"treatment of subject {self.subject_id} was discontinued; no more doses",
                rule="treatment_discontinued",
            )
        if self.hold is not None:
            raise CommandRefused(
                f"dosing of subject {self.subject_id} is withheld since {self.hold.since} "
                f"(resume when: {self.hold.condition()})",
                rule="dose_withheld",
            )
        self._check_not_before_last_dose(clinical_date)
        agents = [d.agent for d in self.doses if d.agent not in self.discontinued_agents]
        self._dose_administered(clinical_date=clinical_date, agents=agents, actor=actor.as_record())

    def _check_dosing_started(self) -> dt.date:
        if self.first_dose_date is None:
            raise CommandRefused(
                f"subject {self.subject_id} has not started dosing", rule="dosing_not_started"
            )
        return self.first_dose_date

    def _check_not_before_last_dose(self, clinical_date: dt.date) -> None:
        first = self._check_dosing_started()
        if clinical_date < first:
            raise CommandRefused(
                f"{clinical_date} is before the first dose ({first})",
                rule="date_before_first_dose",
                field="clinical_date",
            )

    # ----------------------------------------------------------------- commands: AEs

    def record_adverse_event(
        self,
        ae_id: UUID,
        term: CtcaeTerm,
        grade: int | None,
        onset: dt.date,
        actor: Actor,
        *,
        protocol: Protocol,
        attribution: str,
        serious: bool = False,
        ctcae_version: str = "5.0",
        measurement: dict[str, Any] | None = None,
        intolerable: bool = False,
        eye: str | None = None,
        bcva: str | None = None,
        clinically_significant: bool = True,
        with_bleeding: bool = False,
        duration_days: int | None = None,
    ) -> tuple[dict[str, Any], DltAssessment]:
        """Record an AE; the rule set's recommendation (and DLT verdict) are recorded with it."""
        self._check_treated()
        self._check_not_before_last_dose(onset)
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
        grade, acuity = self._vision(term.term, grade, eye, bcva)
        if grade not in term.grades:
            allowed = ", ".join(str(g) for g in term.grades)
            raise InvalidInput(
                f"{term.term} has no grade {grade} in CTCAE v5.0; allowed grades: {allowed}",
                field="grade",
            )
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
        first = self.first_dose_date
        window = (
            None
            if first is None or self.dlt_window_last_day is None
            else (first, self.dlt_window_last_day)
        )
        assessment = assess_dlt(
            term,
            grade,
            attribution=attribution,
            onset=onset,
            window=window,
            criteria=protocol.dlt_criteria,
            clinically_significant=clinically_significant,
            with_bleeding=with_bleeding,
            duration_days=duration_days,
        )
        if self.dlt_outcome is not None and assessment.verdict != "not_dlt":
            assessment = DltAssessment(
                "not_dlt", f"DLT window already closed ({self.dlt_outcome.replace('_', ' ')})"
            )
        self._ae_recorded(
            ae_id=ae_id,
            term=term.term,
            meddra_code=term.meddra_code,
            grade=grade,
            ctcae_version=ctcae_version,
            clinical_date=onset,
            attribution=attribution,
            serious=serious,
            occurrence=occurrence,
            measurement=measurement,
            eye=eye,
            bcva_logmar=None if acuity is None else acuity.logmar,
            dlt_assessment={"verdict": assessment.verdict, "criterion": assessment.criterion},
            actor=actor.as_record(),
        )
        record = rec.as_record()
        self._recommend(ae_id, onset, record, actor)
        if assessment.verdict == "candidate":
            self._dlt_candidate(
                ae_id=ae_id, criterion=assessment.criterion, actor=actor.as_record()
            )
        return record, assessment

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

    def _check_treated(self) -> None:
        self._check_dosing_started()

    def _recommend(
        self, ae_id: UUID | None, clinical_date: dt.date, record: dict[str, Any], actor: Actor
    ) -> None:
        system = {**SYSTEM.as_record(), "on_behalf_of": actor.user_id}
        if actor.request_id:
            system["request_id"] = actor.request_id
        self._dose_recommended(
            ae_id=ae_id, clinical_date=clinical_date, recommendation=record, actor=system
        )

    def change_ae_grade(
        self,
        ae_id: UUID,
        new_grade: int,
        clinical_date: dt.date,
        actor: Actor,
        *,
        protocol: Protocol,
        term: CtcaeTerm,
        reason: str = "",
        measurement: dict[str, Any] | None = None,
        bcva: str | None = None,
        intolerable: bool = False,
    ) -> dict[str, Any] | None:
        """Record a new grade for an open AE (0 = resolved); returns a new recommendation if any."""
        ae = self._open_ae(ae_id, clinical_date)
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
        return self._after_grade_change(ae, old, clinical_date, actor, protocol, term, intolerable)

    def adverse_event(self, ae_id: UUID) -> AdverseEvent:
        """One of the patient's AEs, or CommandRefused naming it."""
        ae = self.adverse_events.get(ae_id)
        if ae is None:
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
    ) -> dict[str, Any] | None:
        hold = self.hold
        if hold is not None and hold.ae_id == ae.id:
            if hold.deadline is not None and clinical_date > hold.deadline:
                return self.review_hold(clinical_date, protocol, actor=actor)
            if self.hold_resumable():
                record = self._resume_recommendation(protocol, hold)
                self._recommend(ae.id, clinical_date, record, actor)
                return record
        if ae.grade > old or (ae.grade == old and ae.bcva_logmar is not None):
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
            record = recommend_dose(
                protocol, facts, can_reduce=can_reduce(protocol, self.doses)
            ).as_record()
            if hold is not None and record["action"] == "withhold":
                return None  # already withheld; the hold stands until its condition is met
            self._recommend(ae.id, clinical_date, record, actor)
            return record
        return None

    def _resume_recommendation(self, protocol: Protocol, hold: Hold) -> dict[str, Any]:
        rule_set = rule_set_for(protocol)
        return {
            "action": "resume",
            "resume": hold.resume or "same",
            "resume_when_grade_at_most": None,
            "resume_when_bcva_at_baseline": False,
            "within_days": None,
            "discontinue_all_agents": False,
            "rule_set": rule_set.id,
            "rule_set_version": rule_set.version,
            "rule": hold.rule or "investigator-hold",
            "note": f"resume condition met: {hold.condition()}",
        }

    def review_hold(
        self, as_of: dt.date, protocol: Protocol, *, actor: Actor = SYSTEM
    ) -> dict[str, Any] | None:
        """If a hold's deadline passed without recovery, recommend discontinuation (once)."""
        hold = self.hold
        if hold is None or hold.deadline is None or as_of <= hold.deadline:
            return None
        if self.open_recommendation and self.open_recommendation["action"] == "discontinue":
            return None
        if self._met_in_time(hold):
            return None
        if hold.rule is None:
            return None
        record = recommend_not_recovered(protocol, hold.rule).as_record()
        record["note"] = f"not recovered by {hold.deadline} ({hold.condition()})"
        self._recommend(hold.ae_id, as_of, record, actor)
        return record

    # ----------------------------------------------------------------- commands: dose actions

    def _recommended(self, action: str, ae_id: UUID | None) -> dict[str, Any] | None:
        """The open recommendation if it asks for this action (for this AE, when one is named)."""
        rec = self.open_recommendation
        if rec is None or rec["action"] != action:
            return None
        if ae_id is not None and rec["ae_id"] != ae_id:
            return None
        return rec

    @staticmethod
    def _check_reason(departs: bool, reason: str, what: str, recommended: str) -> None:
        if departs and not reason.strip():
            raise CommandRefused(
                f"{what} departs from the recommendation ({recommended}); a reason is required",
                rule="reason_required",
                field="reason",
            )

    def _open_for_action(self, clinical_date: dt.date, ae_id: UUID | None) -> None:
        self._check_not_before_last_dose(clinical_date)
        if self.all_discontinued:
            raise CommandRefused(
                f"treatment of subject {self.subject_id} was discontinued",
                rule="treatment_discontinued",
            )
        if ae_id is not None:
            self.adverse_event(ae_id)

    def _describe_open(self) -> str:
        rec = self.open_recommendation
        return "continue" if rec is None else f"{rec['action']}, rule {rec['rule']}"

    def hold_dose(
        self, clinical_date: dt.date, actor: Actor, *, ae_id: UUID | None = None, reason: str = ""
    ) -> None:
        """Withhold dosing; the resume condition comes from the withhold recommendation."""
        self._open_for_action(clinical_date, ae_id)
        if self.hold is not None:
            raise CommandRefused(
                f"dosing is already withheld since {self.hold.since}", rule="already_withheld"
            )
        rec = self._recommended("withhold", ae_id)
        self._check_reason(rec is None, reason, "withholding", self._describe_open())
        within = None if rec is None else rec["within_days"]
        self._dose_held(
            ae_id=ae_id if rec is None else rec["ae_id"],
            clinical_date=clinical_date,
            resume=None if rec is None else rec["resume"],
            resume_when_grade_at_most=None if rec is None else rec["resume_when_grade_at_most"],
            resume_when_bcva_at_baseline=bool(rec and rec["resume_when_bcva_at_baseline"]),
            deadline=None if within is None else clinical_date + dt.timedelta(days=within),
            rule=None if rec is None else rec["rule"],
            reason=reason,
            actor=actor.as_record(),
        )

    def reduce_dose(
        self,
        clinical_date: dt.date,
        actor: Actor,
        *,
        protocol: Protocol,
        ae_id: UUID | None = None,
        reason: str = "",
    ) -> None:
        """Step down the reduction ladder now; below its bottom is a discontinuation."""
        self._open_for_action(clinical_date, ae_id)
        self._check_can_reduce(protocol)
        rec = self._recommended("reduce", ae_id)
        self._check_reason(rec is None, reason, "reducing", self._describe_open())
        self._dose_reduced(
            ae_id=ae_id if rec is None else rec["ae_id"],
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
        protocol: Protocol,
        at: ResumeAt | None = None,
        reason: str = "",
    ) -> ResumeAt:
        """Resume a withheld dose at the same or reduced dose, as the hold's rule says."""
        self._open_for_action(clinical_date, None)
        hold = self.hold
        if hold is None:
            raise CommandRefused(
                f"dosing of subject {self.subject_id} is not withheld", rule="not_withheld"
            )
        if clinical_date < hold.since:
            raise CommandRefused(
                f"{clinical_date} is before the hold began ({hold.since})",
                rule="date_before_hold",
                field="clinical_date",
            )
        recommended: ResumeAt = hold.resume or "same"
        chosen: ResumeAt = at or recommended
        if chosen not in ("same", "reduced"):
            raise InvalidInput(f"resume at '{chosen}': use same or reduced", field="at")
        late = (
            hold.deadline is not None
            and clinical_date > hold.deadline
            and not (self._met_in_time(hold))
        )
        met = self.hold_resumable() and not late
        if not met:
            what = "deadline passed" if late else f"condition not met: {hold.condition()}"
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

    def _met_in_time(self, hold: Hold) -> bool:
        for rec in reversed(self.recommendations):
            if (
                rec["action"] == "resume"
                and rec["ae_id"] == hold.ae_id
                and rec["date"] >= (hold.since)
            ):
                return hold.deadline is None or rec["date"] <= hold.deadline
        return False

    def discontinue(
        self,
        clinical_date: dt.date,
        actor: Actor,
        *,
        protocol: Protocol,
        ae_id: UUID | None = None,
        reason: str = "",
    ) -> list[str]:
        """Permanently discontinue treatment (all agents when the protocol says so)."""
        self._open_for_action(clinical_date, ae_id)
        rec = self._recommended("discontinue", ae_id)
        self._check_reason(rec is None, reason, "discontinuing", self._describe_open())
        agents = agents_to_discontinue(protocol, self.doses)
        self._discontinued(
            ae_id=ae_id if rec is None else rec["ae_id"],
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
        location: str,
        bsa_percent: float,
        symptoms: str,
        ctcae_version: str = "5.0",
        life_threatening: bool = False,
        new_ae_id: UUID,
        protocol: Protocol,
        term: CtcaeTerm,
        attribution: str = "possible",
        intolerable: bool = False,
    ) -> int:
        """Record a visit's skin assessment; a rash grade opens, changes or resolves the rash AE."""
        self._check_treated()
        self._check_not_before_last_dose(clinical_date)
        if not location.strip() and bsa_percent > 0:
            raise InvalidInput("a rash's location is required", field="location")
        grade = grade_rash_acneiform(
            bsa_percent,
            symptoms,  # type: ignore[arg-type]
            version=ctcae_version,  # type: ignore[arg-type]
            life_threatening=life_threatening,
        )
        open_rash = next(
            (a for a in self.adverse_events.values() if a.term == RASH and a.is_open), None
        )
        self._skin_assessed(
            clinical_date=clinical_date,
            grade=grade,
            ctcae_version=ctcae_version,
            location=location.strip(),
            bsa_percent=bsa_percent,
            symptoms=symptoms,
            ae_id=open_rash.id if open_rash else (new_ae_id if grade else None),
            actor=actor.as_record(),
        )
        if open_rash is not None and open_rash.grade != grade:
            self.change_ae_grade(
                open_rash.id,
                grade,
                clinical_date,
                actor,
                protocol=protocol,
                term=term,
                measurement={"bsa_percent": bsa_percent, "symptoms": symptoms},
                reason="skin assessment",
                intolerable=intolerable,
            )
        elif open_rash is None and grade > 0:
            self.record_adverse_event(
                new_ae_id,
                term,
                grade,
                clinical_date,
                actor,
                protocol=protocol,
                attribution=attribution,
                ctcae_version=ctcae_version,
                intolerable=intolerable,
                measurement={
                    "bsa_percent": bsa_percent,
                    "symptoms": symptoms,
                    "location": location.strip(),
                },
            )
        return grade

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
            clinical_date=ae.onset,
            description=description,
            reason="",
            doses_taken_fraction=None,
            actor=actor.as_record(),
        )
        return description

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
            if self.dlt_candidates:
                raise CommandRefused(
                    f"subject {self.subject_id} has a DLT candidate awaiting SRC adjudication",
                    rule="dlt_candidate_pending",
                )
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
