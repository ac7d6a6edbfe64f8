"""The Patient's events: what the stream of one patient records, each with its stable topic.

They are defined here, outside the aggregate class, and named on it (``Patient.AERecorded``):
the aggregate's metaclass finds an ``@event``'s class by that name and subclasses it there, and
the explicit ``TOPIC`` (never the module or class path) is what the store records, so where the
class is written does not change a stored event. Upcasters stay on their class.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate


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
