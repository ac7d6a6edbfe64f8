"""The Trial's events: what the stream of one trial records, each with its stable topic.

They are defined here, outside the aggregate class, and named on it (``Trial.PatientEnrolled``):
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
    TOPIC = "doseledger:trial.Created"


class Registered(Created):
    TOPIC = "doseledger:trial.Registered"
    class_version = 1
    protocol: dict[str, Any]
    name: str
    actor: dict[str, Any]


class Event(Aggregate.Event):
    TOPIC = "doseledger:trial.Event"


class PatientEnrolled(Event):
    TOPIC = "doseledger:trial.PatientEnrolled"
    class_version = 1
    patient_id: UUID
    subject_id: str
    site_id: str
    cohort: int
    level: int
    replaces: UUID | None
    actor: dict[str, Any]


class SiteTimeZoneRecorded(Event):
    """A site's IANA time zone, recorded when the site is first used (domain.md §7a)."""

    TOPIC = "doseledger:trial.SiteTimeZoneRecorded"
    class_version = 1
    site_id: str
    time_zone: str
    source: str  # "enrolment" (given with it) or "protocol_default"
    actor: dict[str, Any]


class DLTObserved(Event):
    TOPIC = "doseledger:trial.DLTObserved"
    class_version = 1
    patient_id: UUID
    cohort: int
    level: int
    clinical_date: dt.date
    description: str
    actor: dict[str, Any]


class DLTWindowCompleted(Event):
    TOPIC = "doseledger:trial.DLTWindowCompleted"
    class_version = 1
    patient_id: UUID
    cohort: int
    level: int
    clinical_date: dt.date
    actor: dict[str, Any]


class PatientNotEvaluable(Event):
    TOPIC = "doseledger:trial.PatientNotEvaluable"
    class_version = 1
    patient_id: UUID
    cohort: int
    level: int
    clinical_date: dt.date
    reason: str
    actor: dict[str, Any]


class DLTCandidateRaised(Event):
    TOPIC = "doseledger:trial.DLTCandidateRaised"
    class_version = 1
    patient_id: UUID
    ae_id: UUID
    cohort: int
    level: int
    clinical_date: dt.date
    description: str
    criterion: str
    actor: dict[str, Any]


class DLTCandidateAdjudicated(Event):
    TOPIC = "doseledger:trial.DLTCandidateAdjudicated"
    class_version = 1
    patient_id: UUID
    ae_id: UUID
    confirmed: bool
    meaning: str
    reason: str
    actor: dict[str, Any]


class SRCDecisionSigned(Event):
    TOPIC = "doseledger:trial.SRCDecisionSigned"
    class_version = 2  # 2: packet_sha256
    cohort: int
    level: int
    outcomes: str
    recommendation: dict[str, Any] | None
    decision: str
    mtd_level: int | None
    meaning: str
    reason: str | None
    actor: dict[str, Any]
    packet_sha256: str | None
    """The SHA-256 of the SRC packet the decision was made on, when the signer cited one."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Decisions signed before a decision could cite its packet cite none."""
        state["packet_sha256"] = None


class CohortOpened(Event):
    TOPIC = "doseledger:trial.CohortOpened"
    class_version = 1
    cohort: int
    level: int
    origin: str
    actor: dict[str, Any]


class CohortExpanded(Event):
    TOPIC = "doseledger:trial.CohortExpanded"
    class_version = 1
    cohort: int
    level: int
    actor: dict[str, Any]


class MTDDeclared(Event):
    TOPIC = "doseledger:trial.MTDDeclared"
    class_version = 1
    level: int
    dose_label: str
    actor: dict[str, Any]


class StoppedWithoutMTD(Event):
    TOPIC = "doseledger:trial.StoppedWithoutMTD"
    class_version = 1
    reason: str
    actor: dict[str, Any]


class OutcomeRevised(Event):
    """Corrected facts changed a patient's DLT-window outcome (None: awaited again)."""

    TOPIC = "doseledger:trial.OutcomeRevised"
    class_version = 1
    patient_id: UUID
    cohort: int
    level: int
    old_outcome: str | None
    new_outcome: str | None
    clinical_date: dt.date | None
    reason: str
    actor: dict[str, Any]


class DecisionReviewed(Event):
    """The SRC re-reviewed a flagged decision: it stands, or it is revised (what follows
    is recorded as decisions on the open cohort)."""

    TOPIC = "doseledger:trial.DecisionReviewed"
    class_version = 1
    cohort: int
    outcome: str
    meaning: str
    reason: str
    actor: dict[str, Any]


class DecisionFlaggedForReview(Event):
    """A decided cohort's DLT count changed: the SRC decision on it needs re-review."""

    TOPIC = "doseledger:trial.DecisionFlaggedForReview"
    class_version = 1
    cohort: int
    level: int
    old_dlts: int
    new_dlts: int
    reason: str
    actor: dict[str, Any]
