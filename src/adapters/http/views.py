"""Response shapes of the API: what each JSON answer holds, with an example.

They describe the answers as the routes build them (dicts from the services and read models):
routes name them in ``responses`` (documentation and schemathesis' response check), not as a
``response_model``, so an answer is never filtered or re-encoded. Shapes that grow with the
domain (a patient's state, a read model's rows) allow more fields than they list
(``extra="allow"``): a client reads the fields listed here and ignores the others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.design_views import BOUNDARIES_EXAMPLE, DesignBoundaries
from domain.protocol import Protocol, template
from domain.reminder_schedule import ReminderKind

TRIAL_ID = "8f40be97-5b34-4405-bfcf-819da22ab57b"
PATIENT_ID = "b5ab6ca5-7378-402a-8c3d-7be1424a5902"
DL1 = "DL1: defactinib 200 mg BID + avutometinib 3.2 mg twice weekly"


def _open(example: dict[str, Any]) -> ConfigDict:
    """An open shape (more fields may come) with its example."""
    return ConfigDict(extra="allow", json_schema_extra={"examples": [example]})


def _closed(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


# ------------------------------------------------------------------------- health

HEALTH_EXAMPLE = {"status": "ok"}
READINESS_EXAMPLE = {"status": "ready", "position": 116, "read_model_lag": 0, "lag_bound": 1000}


class Health(BaseModel):
    """The process serves requests."""

    model_config = _closed(HEALTH_EXAMPLE)
    status: Literal["ok"]


class Readiness(BaseModel):
    """The store's head position and how far the read models lag behind it."""

    model_config = _closed(READINESS_EXAMPLE)
    status: Literal["ready"]
    position: int = Field(description="The store's last position")
    read_model_lag: int = Field(description="Positions the slowest read model is behind")
    lag_bound: int = Field(description="The largest lag that is still ready")


# ---------------------------------------------------------------------- protocols

PROTOCOL_SUMMARY_EXAMPLE = {"id": "defactinib-avutometinib", "title": "Defactinib + avutometinib"}


class ProtocolSummary(BaseModel):
    """A protocol template: its id (a ``template_id`` for ``POST /trials``) and title."""

    model_config = _closed(PROTOCOL_SUMMARY_EXAMPLE)
    id: str
    title: str


class ProtocolPage(BaseModel):
    """A page of protocol templates; ``next`` is the ``after`` of the following page."""

    model_config = _closed({"protocols": [PROTOCOL_SUMMARY_EXAMPLE], "next": None})
    protocols: list[ProtocolSummary]
    next: str | None


def protocol_example() -> dict[str, Any]:
    """A shipped template, as ``GET /protocols/{id}`` answers and ``POST /trials`` takes it."""
    return template("defactinib-avutometinib").model_dump(mode="json")


ProtocolView = Protocol
"""A full protocol: the domain's own model (its JSON schema is what POST /trials accepts)."""


# ------------------------------------------------------------------------- trials

LEVEL_EXAMPLE = {"level": 1, "dose": DL1, "patients": 6, "dlts": 0}
TRIAL_COHORT_EXAMPLE = {
    "cohort": 1,
    "level": 1,
    "dose": DL1,
    "origin": "start",
    "enrolled": 3,
    "evaluable": 3,
    "not_evaluable": 0,
    "dlts": 0,
    "recommendation": "escalate",
    "decision": "escalate",
    "signed_by": "src-chair",
    "reason": None,
}
TRIAL_ROW_EXAMPLE = {
    "id": TRIAL_ID,
    "name": "Demo: defactinib + avutometinib dose escalation",
    "protocol": "defactinib-avutometinib",
    "status": "mtd_declared",
    "current_level": 1,
    "mtd": 1,
}
TRIAL_EXAMPLE = {
    **TRIAL_ROW_EXAMPLE,
    "version": 37,
    "flagged_for_review": [],
    "mtd_dose": DL1,
    "deescalate": True,
    "outcomes": "1NNN 2NTN 2NTN 1NNN",
    "recommendation": None,
    "design": {
        "kind": "3+3",
        "deescalate": True,
        "cohort_size": 3,
        "max_patients_per_level": 6,
        "starting_level": 1,
    },
    "levels": [LEVEL_EXAMPLE],
    "cohorts": [TRIAL_COHORT_EXAMPLE],
}


class TrialRow(BaseModel):
    """A trial as listed: id, name, protocol, status, current level, MTD."""

    model_config = _open(TRIAL_ROW_EXAMPLE)
    id: str = Field(json_schema_extra={"format": "uuid"})
    name: str
    protocol: str = Field(description="The protocol's id")
    status: str = Field(examples=["escalating", "mtd_declared"])
    current_level: int | None
    mtd: int | None = Field(description="The MTD's dose level, once declared")


class Trial(TrialRow):
    """A trial's current state: its levels, cohorts and their SRC decisions."""

    model_config = _open(TRIAL_EXAMPLE)
    version: int = Field(description="The trial's version (its ETag)")
    design: dict[str, Any] = Field(
        description="The protocol's design as registered (kind and parameters); an interval "
        "design adds its eliminated levels"
    )
    levels: list[dict[str, Any]] = Field(
        description="Per dose level: dose, patients, DLTs; an interval design adds the "
        "evaluated patients, the boundaries in force there, whether it is eliminated and, "
        "once the trial has ended, its isotonic DLT-rate estimate"
    )
    cohorts: list[dict[str, Any]] = Field(
        description="Per cohort: level, origin, enrolled, evaluable, DLTs, recommendation, decision"
    )


class TrialPage(BaseModel):
    """A page of trials; ``next`` is the ``after`` of the following page (null: the last)."""

    model_config = _closed({"trials": [TRIAL_ROW_EXAMPLE], "next": None})
    trials: list[TrialRow]
    next: str | None


# ----------------------------------------------------------------------- patients

PATIENT_EXAMPLE = {
    "id": PATIENT_ID,
    "trial_id": TRIAL_ID,
    "subject_id": "S01-001",
    "site_id": "S01",
    "site_time_zone": "UTC",
    "enrolment_date": "2026-04-10",
    "version": 5,
    "cohort": 1,
    "level": 1,
    "status": "on treatment",
    "dosing": "on treatment",
    "doses": ["defactinib 200 mg BID", "avutometinib 3.2 mg twice weekly"],
    "first_dose": "2026-04-12",
    "dlt_window_last_day": "2026-05-09",
    "dlt_outcome": "no_dlt",
    "hold": None,
    "adverse_events": [],
}


class Patient(BaseModel):
    """A patient's current state (a command's answer may add what the command returned)."""

    model_config = _open(PATIENT_EXAMPLE)
    id: str = Field(json_schema_extra={"format": "uuid"})
    trial_id: str = Field(json_schema_extra={"format": "uuid"})
    subject_id: str | None
    site_id: str
    version: int = Field(description="The patient's version (its ETag)")
    cohort: int
    level: int
    status: str
    adverse_events: list[dict[str, Any]]


# -------------------------------------------------------------------- read models

COHORT_SUMMARY_EXAMPLE = {
    "trial_id": TRIAL_ID,
    "status": "mtd_declared",
    "design": TRIAL_EXAMPLE["design"],
    "cohorts": [
        {
            **TRIAL_COHORT_EXAMPLE,
            "mtd_level": None,
            "signer_name": "Dr R. Iyer (SRC chair)",
            "meaning": "approval",
            "signed_at": "2026-04-20T09:00:00+00:00",
            "pending_dlt_candidates": 0,
            "rereview": [],
        }
    ],
    "levels": [LEVEL_EXAMPLE],
}
SAFETY_TABLE_EXAMPLE = {
    "trial_id": TRIAL_ID,
    "levels": [{"level": 1, "dose": DL1, "patients": 6}],
    "terms": [
        {
            "term": "CPK increased",
            "levels": [
                {
                    "level": 1,
                    "grades": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0},
                    "any_grade": 1,
                    "grade_3_or_worse": 1,
                }
            ],
            "any_grade": 1,
            "grade_3_or_worse": 1,
        }
    ],
    "deviations": [],
}
TIMELINE_EXAMPLE = {
    "patient_id": PATIENT_ID,
    "trial_id": TRIAL_ID,
    "subject_id": "S01-001",
    "site_id": "S01",
    "cohort": 1,
    "level": 1,
    "entries": [
        {
            "position": 7,
            "seq": 0,
            "clinical_date": "2026-04-12",
            "kind": "dosing_started",
            "ae_id": None,
            "term": None,
            "grade": None,
            "summary": "first dose",
            "detail": None,
            "user_id": "inv-s01",
        }
    ],
    "next": "7.0",
}
AUDIT_ROW_EXAMPLE = {
    "position": 1,
    "trial_id": TRIAL_ID,
    "recorded_at": "2026-04-01T08:00:00+00:00",
    "aggregate": "trial",
    "aggregate_id": TRIAL_ID,
    "version": 1,
    "event": "Registered",
    "clinical_date": None,
    "user_id": "sponsor-dm",
    "role": "admin",
    "user_name": "Sponsor data manager",
    "client": "demo",
    "request_id": None,
    "change": None,
    "reason": None,
    "summary": "trial registered from protocol defactinib-avutometinib",
}


class CohortSummary(BaseModel):
    """Per cohort and dose level: enrolled, evaluable, DLTs, recommendation, SRC decision."""

    model_config = _open(COHORT_SUMMARY_EXAMPLE)
    trial_id: str = Field(json_schema_extra={"format": "uuid"})
    status: str
    design: dict[str, Any] = Field(description="As in the trial (GET /trials/{trial_id})")
    cohorts: list[dict[str, Any]]
    levels: list[dict[str, Any]]


class SafetyTable(BaseModel):
    """Patients by AE term × worst CTCAE grade × dose level, and protocol deviations."""

    model_config = _open(SAFETY_TABLE_EXAMPLE)
    trial_id: str = Field(json_schema_extra={"format": "uuid"})
    levels: list[dict[str, Any]]
    terms: list[dict[str, Any]]
    deviations: list[dict[str, Any]]


class PatientTimeline(BaseModel):
    """A patient and a page of its timeline's entries, in the order they were recorded;
    ``next`` is the ``after`` of the following page (null: the last)."""

    model_config = _open(TIMELINE_EXAMPLE)
    patient_id: str = Field(json_schema_extra={"format": "uuid"})
    trial_id: str = Field(json_schema_extra={"format": "uuid"})
    entries: list[dict[str, Any]]
    next: str | None


class AuditRow(BaseModel):
    """One recorded event: who, role, when recorded, clinical date, change, reason, client."""

    model_config = _open(AUDIT_ROW_EXAMPLE)
    position: int
    trial_id: str = Field(json_schema_extra={"format": "uuid"})
    recorded_at: str = Field(json_schema_extra={"format": "date-time"})
    aggregate: str
    aggregate_id: str = Field(json_schema_extra={"format": "uuid"})
    version: int
    event: str
    user_id: str | None
    role: str | None
    summary: str | None


class AuditPage(BaseModel):
    """A page of the audit trail; ``next`` is the ``after`` of the following page (null: the
    last)."""

    model_config = _closed({"rows": [AUDIT_ROW_EXAMPLE], "next": "1"})
    rows: list[AuditRow]
    next: str | None


class Replay(BaseModel):
    """The trial and its patients as recorded at ``as_of`` (null: now)."""

    model_config = _open({"as_of": None, "trial": TRIAL_EXAMPLE, "patients": [PATIENT_EXAMPLE]})
    as_of: str | None
    trial: dict[str, Any]
    patients: list[dict[str, Any]]


# ----------------------------------------------------------------------- webhooks

SUBSCRIPTION_EXAMPLE = {
    "id": "0b8f7c39-3d1c-4c1e-9b5e-5a2f7d1e2c11",
    "name": "Site 01 EDC",
    "url": "https://edc.example.org/hooks/doseledger",
    "kinds": None,
    "trial_id": None,
    "active": True,
    "subscribed_at": "2026-04-01T08:00:00+00:00",
    "cancelled_at": None,
    "version": 1,
}


class Subscription(BaseModel):
    """A webhook subscription (never its secret)."""

    model_config = _open(SUBSCRIPTION_EXAMPLE)
    id: str = Field(json_schema_extra={"format": "uuid"})
    name: str
    url: str
    kinds: list[str] | None
    trial_id: str | None
    active: bool
    subscribed_at: str
    cancelled_at: str | None
    version: int


class NewSubscription(Subscription):
    """A new subscription, with its signing secret (shown this once) and how it signs."""

    model_config = _open(
        {**SUBSCRIPTION_EXAMPLE, "secret": "whsec_" + "A" * 43 + "=", "signature": "Standard …"}
    )
    secret: str
    signature: str


class SubscriptionPage(BaseModel):
    """A page of subscriptions; ``next`` is the ``after`` of the following page."""

    model_config = _closed({"subscriptions": [SUBSCRIPTION_EXAMPLE], "next": None})
    subscriptions: list[Subscription]
    next: str | None


DELIVERY_EXAMPLE = {
    "id": "5c1b0e7e-2f4a-4d8e-9a63-1f0e4b7c2d90",
    "status": "delivered",
    "enqueued_at": "2026-04-01T08:00:00+00:00",
    "next_attempt_at": None,
    "finished_at": "2026-04-01T08:00:01+00:00",
    "attempts": [],
}


class Delivery(BaseModel):
    """A reminder's delivery to a subscription: status, next attempt, every attempt."""

    model_config = _open(DELIVERY_EXAMPLE)
    id: str
    status: str
    next_attempt_at: str | None
    attempts: list[dict[str, Any]]


class DeliveryPage(BaseModel):
    """A page of a subscription's deliveries, newest first; ``next`` is the ``after`` of the
    following (older) page (null: the last)."""

    model_config = _closed({"deliveries": [DELIVERY_EXAMPLE], "next": None})
    deliveries: list[Delivery]
    next: str | None


# ---------------------------------------------------------------------- reminders

REMINDER_EXAMPLE = {
    "id": "0b8c7f1e-5d6a-4c1b-9e3f-2a7d8c9b0e1f",
    "kind": "dlt_window_end",
    "trial_id": "5f0c3e2a-1b4d-4e6f-8a9b-0c1d2e3f4a5b",
    "patient_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "due_at": "2026-03-30T23:00:00+00:00",
    "state": "open",
    "fired_at": None,
}


class ReminderView(BaseModel):
    """One reminder: what, for whom, when due, and where it stands."""

    model_config = _closed(REMINDER_EXAMPLE)
    id: UUID
    kind: ReminderKind
    trial_id: UUID
    patient_id: UUID | None
    due_at: dt.datetime
    state: Literal["open", "due", "issued", "cleared"]
    fired_at: dt.datetime | None


class ReminderPage(BaseModel):
    """A page of reminders in the order shown (due time, then id); ``next`` is the ``after``
    of the following page (null: the last)."""

    model_config = _closed({"reminders": [REMINDER_EXAMPLE], "next": "63911138400000000.1"})
    reminders: list[ReminderView]
    next: str | None


EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    Health: HEALTH_EXAMPLE,
    Readiness: READINESS_EXAMPLE,
    ProtocolSummary: PROTOCOL_SUMMARY_EXAMPLE,
    TrialRow: TRIAL_ROW_EXAMPLE,
    Trial: TRIAL_EXAMPLE,
    Patient: PATIENT_EXAMPLE,
    CohortSummary: COHORT_SUMMARY_EXAMPLE,
    DesignBoundaries: BOUNDARIES_EXAMPLE,
    SafetyTable: SAFETY_TABLE_EXAMPLE,
    PatientTimeline: TIMELINE_EXAMPLE,
    AuditRow: AUDIT_ROW_EXAMPLE,
    Subscription: SUBSCRIPTION_EXAMPLE,
    Delivery: DELIVERY_EXAMPLE,
    ReminderView: REMINDER_EXAMPLE,
}
"""Each model's example (tests check every example against its model's schema)."""
