"""One audit-trail row per stored event: who, when, what changed, why, from where."""

from __future__ import annotations

import datetime as dt
from typing import Any

from eventsourcing.domain import DomainEventProtocol

AGGREGATE_KINDS = {"doseledger:trial": "trial", "doseledger:patient": "patient"}
AUDIT_COLUMNS = (
    "position",
    "recorded_at",
    "aggregate",
    "aggregate_id",
    "version",
    "event",
    "clinical_date",
    "user_id",
    "role",
    "user_name",
    "client",
    "request_id",
    "change",
    "reason",
    "summary",
)


def aggregate_kind(event: Any) -> str:
    """'trial' or 'patient', from the event's explicit topic."""
    topic: str = getattr(type(event), "TOPIC", "")
    return AGGREGATE_KINDS.get(topic.split(".")[0], topic.split(".")[0] or "unknown")


def _change(event: Any) -> str | None:
    """Old → new value, for events that correct or change an earlier record."""
    name = type(event).__name__
    if name == "AEGraded":
        return f"grade {event.old_grade} → {event.new_grade}"
    if name == "AEResolved":
        return f"grade {event.old_grade} → resolved"
    if name in ("DoseReduced", "DoseResumed"):
        before = ", ".join(_label(d) for d in event.from_doses)
        after = ", ".join(_label(d) for d in event.to_doses)
        return None if before == after else f"{before} → {after}"
    return None


def _label(dose: dict[str, Any]) -> str:
    return f"{dose['agent']} {dose['amount']:g} {dose['unit']} {dose['frequency']}"


def summary(event: Any) -> str:
    """The event in a few words a monitor would understand."""
    name = type(event).__name__
    get = event.__dict__.get
    texts = {
        "Registered": lambda: f"trial registered from protocol {get('protocol', {}).get('id')}",
        "PatientEnrolled": lambda: (
            f"subject {get('subject_id')} enrolled in cohort {get('cohort')} at DL{get('level')}"
        ),
        "Enrolled": lambda: f"subject {get('subject_id')} enrolled at DL{get('level')}",
        "DLTObserved": lambda: f"DLT in cohort {get('cohort')}: {get('description')}",
        "DLTWindowCompleted": lambda: f"DLT window completed without DLT (cohort {get('cohort')})",
        "PatientNotEvaluable": lambda: f"not evaluable, to be replaced: {get('reason')}",
        "DLTCandidateRaised": lambda: f"DLT candidate: {get('description')}",
        "DLTCandidateAdjudicated": lambda: (
            "DLT candidate " + ("confirmed" if get("confirmed") else "rejected")
        ),
        "SRCDecisionSigned": lambda: (
            f"SRC decision on cohort {get('cohort')}: {get('decision')} ({get('meaning')})"
        ),
        "CohortOpened": lambda: (
            f"cohort {get('cohort')} opened at DL{get('level')} ({get('origin')})"
        ),
        "CohortExpanded": lambda: f"cohort {get('cohort')} expands DL{get('level')}",
        "MTDDeclared": lambda: f"MTD declared: {get('dose_label')}",
        "StoppedWithoutMTD": lambda: f"trial stopped without MTD: {get('reason')}",
        "BaselineEyeExamRecorded": lambda: (
            f"baseline eye exam: BCVA right {get('bcva_right')}, left {get('bcva_left')}"
        ),
        "BaselineSkinExamRecorded": lambda: f"baseline skin exam: {get('findings')}",
        "DosingStarted": lambda: "first dose",
        "DoseAdministered": lambda: "dose given: " + ", ".join(get("agents") or []),
        "AERecorded": lambda: (
            f"AE {get('term')} grade {get('grade')} (CTCAE "
            f"v{get('ctcae_version')}), {get('attribution')}"
        ),
        "AEGraded": lambda: "AE grade changed",
        "AEResolved": lambda: "AE resolved",
        "SkinAssessed": lambda: (
            f"skin assessment: rash grade {get('grade')}, {get('bsa_percent'):g}% BSA"
        ),
        "DoseRecommended": lambda: (
            "recommended: "
            f"{(get('recommendation') or {}).get('action')} (rule "
            f"{(get('recommendation') or {}).get('rule')})"
        ),
        "DoseHeld": lambda: "dose withheld",
        "DoseReduced": lambda: "dose reduced",
        "DoseResumed": lambda: f"dose resumed at the {get('at')} dose",
        "TreatmentDiscontinued": lambda: "discontinued: " + ", ".join(get("agents") or []),
        "DLTWindowClosed": lambda: f"DLT window closed: {get('outcome')}",
    }
    text = texts.get(name)
    return text() if text else name


def audit_row(position: int, event: DomainEventProtocol[Any]) -> dict[str, Any]:
    """The audit-trail row of one stored event."""
    attrs = event.__dict__
    actor: dict[str, Any] = attrs.get("actor") or {}
    clinical: dt.date | None = attrs.get("clinical_date")
    reason = attrs.get("reason") or None
    return {
        "position": position,
        "recorded_at": event.timestamp.astimezone(dt.UTC).isoformat(),
        "aggregate": aggregate_kind(event),
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "event": type(event).__name__,
        "clinical_date": None if clinical is None else clinical.isoformat(),
        "user_id": actor.get("user_id"),
        "role": actor.get("role"),
        "user_name": actor.get("name"),
        "client": actor.get("client"),
        "request_id": actor.get("request_id"),
        "change": _change(event),
        "reason": reason,
        "summary": summary(event),
    }
