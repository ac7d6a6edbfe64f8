"""One audit-trail row per stored event: who, when, what changed, why, from where.

What depends only on the event's class (its aggregate kind, its name, how to word its summary
and its change) is worked out once per class and kept (:func:`_plan`): a rebuild writes one row
per stored event, so per-event work is only what differs between events. Rows are worded from
a :class:`projections.undecoded.UndecodedEvent` (the stored JSON, typed values decoded as they
are read), so the trail never needs the domain event itself; :func:`audit_row` words a domain event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from eventsourcing.domain import DomainEventProtocol

from projections.undecoded import UndecodedEvent

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
# get: the event's attribute look-up (``event.__dict__.get``)
Get = Callable[..., Any]


def _design_terms(rec: Any) -> str:
    """An interval design's recommendation in its own terms (nothing for the 3+3's)."""
    if not isinstance(rec, dict) or "design" not in rec:
        return ""
    bound = rec.get("boundary") or {}
    eliminated = ", ".join(f"DL{level}" for level in rec.get("eliminated") or []) or "none"
    return (
        f"; {rec['design']} recommended {rec.get('action')} "
        f"({bound.get('dlts')} DLTs in {bound.get('n')}: escalate at most "
        f"{bound.get('escalate_at_most')}, de-escalate at least "
        f"{bound.get('deescalate_at_least')}, eliminate at least "
        f"{bound.get('eliminate_at_least')}; eliminated: {eliminated})"
    )


def _label(dose: dict[str, Any]) -> str:
    return f"{dose['agent']} {dose['amount']:g} {dose['unit']} {dose['frequency']}"


def _dose_change(get: Get) -> str | None:
    before = ", ".join(_label(d) for d in get("from_doses"))
    after = ", ".join(_label(d) for d in get("to_doses"))
    return None if before == after else f"{before} → {after}"


# Old → new value, for events that correct or change an earlier record (by class name).
_CHANGES: dict[str, Callable[[Get], str | None]] = {
    "AEGraded": lambda get: f"grade {get('old_grade')} → {get('new_grade')}",
    "AEResolved": lambda get: f"grade {get('old_grade')} → resolved",
    "DoseReduced": _dose_change,
    "DoseResumed": _dose_change,
    "FactCorrected": lambda get: "; ".join(
        f"{name} {old} → {new}" for name, (old, new) in (get("changes") or {}).items()
    ),
    "FactEnteredInError": lambda get: f"{get('fact')} {get('ref')} → entered in error",
    "DLTOutcomeRevised": lambda get: f"{get('old_outcome')} → {get('new_outcome') or 'open'}",
    "OutcomeRevised": lambda get: (
        f"{get('old_outcome') or 'awaited'} → {get('new_outcome') or 'awaited'}"
    ),
    "DecisionFlaggedForReview": lambda get: f"DLTs {get('old_dlts')} → {get('new_dlts')}",
}

# The event in a few words a monitor would understand (by class name).
_SUMMARIES: dict[str, Callable[[Get], str]] = {
    "Registered": lambda get: f"trial registered from protocol {get('protocol', {}).get('id')}",
    "PatientEnrolled": lambda get: (
        f"subject {get('subject_id')} enrolled in cohort {get('cohort')} at DL{get('level')}"
    ),
    "Enrolled": lambda get: (
        f"subject {get('subject_id')} enrolled at DL{get('level')} on "
        f"{get('enrolment_date')} ({get('site_time_zone')})"
    ),
    "SiteTimeZoneRecorded": lambda get: (
        f"site {get('site_id')} time zone {get('time_zone')}"
        + (" (protocol default)" if get("source") == "protocol_default" else "")
    ),
    "DLTObserved": lambda get: f"DLT in cohort {get('cohort')}: {get('description')}",
    "DLTWindowCompleted": lambda get: f"DLT window completed without DLT (cohort {get('cohort')})",
    "PatientNotEvaluable": lambda get: f"not evaluable, to be replaced: {get('reason')}",
    "DLTCandidateRaised": lambda get: f"DLT candidate: {get('description')}",
    "DLTCandidateAdjudicated": lambda get: (
        "DLT candidate " + ("confirmed" if get("confirmed") else "rejected")
    ),
    "SRCDecisionSigned": lambda get: (
        f"SRC decision on cohort {get('cohort')}: {get('decision')} ({get('meaning')})"
        + _design_terms(get("recommendation"))
        + (f"; on SRC packet sha256 {get('packet_sha256')}" if get("packet_sha256") else "")
    ),
    "CohortOpened": lambda get: (
        f"cohort {get('cohort')} opened at DL{get('level')} ({get('origin')})"
    ),
    "CohortExpanded": lambda get: f"cohort {get('cohort')} expands DL{get('level')}",
    "MTDDeclared": lambda get: f"MTD declared: {get('dose_label')}",
    "StoppedWithoutMTD": lambda get: f"trial stopped without MTD: {get('reason')}",
    "BaselineEyeExamRecorded": lambda get: (
        f"baseline eye exam: BCVA right {get('bcva_right')}, left {get('bcva_left')}"
    ),
    "BaselineSkinExamRecorded": lambda get: f"baseline skin exam: {get('findings')}",
    "DosingStarted": lambda get: "first dose",
    "DoseAdministered": lambda get: "dose given: " + ", ".join(get("agents") or []),
    "AERecorded": lambda get: (
        f"AE {get('term')} grade {get('grade')} (CTCAE "
        f"v{get('ctcae_version')}), {get('attribution')}"
    ),
    "AEGraded": lambda get: "AE grade changed",
    "AEResolved": lambda get: "AE resolved",
    "SkinAssessed": lambda get: (
        f"skin assessment: rash grade {get('grade')}, {get('bsa_percent'):g}% BSA"
    ),
    "DoseRecommended": lambda get: (
        "recommended: "
        f"{(get('recommendation') or {}).get('action')} (rule "
        f"{(get('recommendation') or {}).get('rule')})"
    ),
    "DoseHeld": lambda get: "dose withheld",
    "DoseReduced": lambda get: "dose reduced",
    "DoseResumed": lambda get: f"dose resumed at the {get('at')} dose",
    "TreatmentDiscontinued": lambda get: "discontinued: " + ", ".join(get("agents") or []),
    "DLTWindowClosed": lambda get: f"DLT window closed: {get('outcome')}",
    "DLTAssessed": lambda get: (
        f"grade {get('grade')} inside the DLT window: {get('verdict')} ({get('criterion')})"
    ),
    "DoseMissed": lambda get: "planned dose missed",
    "DoseDeviationRecorded": lambda get: (
        "protocol deviation: dose given against an open requirement: "
        + ", ".join(get("agents") or [])
    ),
    "FactCorrected": lambda get: f"correction of {get('fact')} {get('ref')}",
    "FactEnteredInError": lambda get: f"{get('fact')} {get('ref')} entered in error",
    "DLTOutcomeRevised": lambda get: "DLT window outcome revised",
    "OutcomeRevised": lambda get: "cohort outcome revised after a correction",
    "DecisionFlaggedForReview": lambda get: (
        f"SRC decision on cohort {get('cohort')} flagged for re-review"
    ),
}


class _ClassPlan(NamedTuple):
    """What an event class contributes to its rows, whatever the event."""

    kind: str
    name: str
    change: Callable[[Get], str | None] | None
    summary: Callable[[Get], str] | None


_PLANS: dict[type, _ClassPlan] = {}


def _plan(cls: type) -> _ClassPlan:
    plan = _PLANS.get(cls)
    if plan is None:
        topic: str = getattr(cls, "TOPIC", "")
        prefix = topic.split(".")[0]
        name = cls.__name__
        plan = _ClassPlan(
            AGGREGATE_KINDS.get(prefix, prefix or "unknown"),
            name,
            _CHANGES.get(name),
            _SUMMARIES.get(name),
        )
        _PLANS[cls] = plan
    return plan


def audit_values(position: int, stored: UndecodedEvent) -> tuple[Any, ...]:
    """The audit-trail row of one stored event, as values in ``AUDIT_COLUMNS`` order."""
    plan = _PLANS.get(stored.cls) or _plan(stored.cls)
    get = stored.get
    actor: dict[str, Any] = get("actor") or {}
    return (
        position,
        stored.utc_text("timestamp"),
        plan.kind,
        stored.originator_id,
        stored.version,
        plan.name,
        stored.date_text("clinical_date"),
        actor.get("user_id"),
        actor.get("role"),
        actor.get("name"),
        actor.get("client"),
        actor.get("request_id"),
        None if plan.change is None else plan.change(get),
        get("reason") or None,
        plan.name if plan.summary is None else plan.summary(get),
    )


def audit_row(position: int, event: DomainEventProtocol[Any]) -> dict[str, Any]:
    """The audit-trail row of one domain event."""
    values = audit_values(position, UndecodedEvent.of_event(event))
    return dict(zip(AUDIT_COLUMNS, values, strict=True))
