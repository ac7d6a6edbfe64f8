"""The facts of an SRC packet, as a pure function of its record (``record.packet_record``).

Sections, in the order the committee reads them: the header (protocol, design, dose levels,
status), the current recommendation and the rule that fired, the cohort table, the escalation
markers and the swimmer lanes (drawn by ``plots``), the DLT listing, the AE summary (term × worst
grade × dose level, counted as the safety-table read model counts it), open requirements and
reminders, what changed since the last decision (deviations, corrections), and the binding to
the record (log position, audit-chain head).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from domain.site_time import local_date
from projections.models.safety_table import term_rows
from projections.src_packet.designs import DesignFacts, design_terms
from projections.src_packet.lanes import lane, marker_kind

# Events listed under "since the last decision": corrections, deviations and their effects.
_SINCE = {
    "FactCorrected": "correction",
    "FactEnteredInError": "entered in error",
    "DLTOutcomeRevised": "DLT outcome revised",
    "DoseDeviationRecorded": "protocol deviation",
    "OutcomeRevised": "cohort outcome revised",
    "DecisionFlaggedForReview": "decision flagged for re-review",
    "DecisionReviewed": "decision re-reviewed",
}


def _doses_per_agent(protocol: Mapping[str, Any]) -> dict[str, Any]:
    agents = [a["name"] for a in protocol["agents"]]
    rows = []
    for level in protocol["dose_levels"]:
        by_agent = {d["agent"]: d for d in level["doses"]}
        rows.append(
            {
                "level": level["level"],
                "doses": [
                    None
                    if agent not in by_agent
                    else f"{by_agent[agent]['amount']:g} {by_agent[agent]['unit']} "
                    f"{by_agent[agent]['frequency']}"
                    for agent in agents
                ],
            }
        )
    return {"agents": agents, "levels": rows}


def _decisions(trial_events: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {e["cohort"]: e for e in trial_events if e["event"] == "SRCDecisionSigned"}


def cohort_table(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per cohort: level, enrolled, evaluable, DLTs, recommendation, decision, signer, reason,
    when it was signed and the packet it cites (as the trial's own cohort rows say)."""
    decisions = _decisions(record["trial"]["events"])
    rows = []
    for row in record["trial"]["summary"]["cohorts"]:
        signed = decisions.get(row["cohort"]) or {}
        rows.append(
            {
                "cohort": row["cohort"],
                "level": row["level"],
                "enrolled": row["enrolled"],
                "evaluable": row["evaluable"],
                "not_evaluable": row["not_evaluable"],
                "dlts": row["dlts"],
                "recommendation": row["recommendation"],
                "decision": row["decision"],
                "signed_by": row["signed_by"],
                "signer_name": (signed.get("actor") or {}).get("name"),
                "signed_at": signed.get("recorded_at"),
                "reason": row["reason"],
                "packet_sha256": signed.get("packet_sha256"),
            }
        )
    return rows


def escalation(record: Mapping[str, Any], cohorts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One marker per patient in order of enrolment (x: 1, 2, ...; y: dose level), and each
    cohort's span with its decision."""
    points = [
        {
            "x": i,
            "subject_id": p["summary"]["subject_id"],
            "patient_id": p["summary"]["id"],
            "cohort": p["summary"]["cohort"],
            "level": p["summary"]["level"],
            "kind": marker_kind(p["summary"]),
        }
        for i, p in enumerate(record["patients"], start=1)
    ]
    spans = []
    for row in cohorts:
        xs = [pt["x"] for pt in points if pt["cohort"] == row["cohort"]]
        if xs:
            spans.append(
                {
                    "cohort": row["cohort"],
                    "level": row["level"],
                    "first": min(xs),
                    "last": max(xs),
                    "decision": row["decision"],
                }
            )
    return {
        "points": points,
        "cohorts": spans,
        "num_levels": len(record["trial"]["protocol"]["dose_levels"]),
    }


def dlt_listing(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every AE that is a DLT or was a DLT candidate: patient, term, grade, onset day,
    attribution, criterion and how it was adjudicated."""
    adjudicated = {
        e["ae_id"]: e for e in record["trial"]["events"] if e["event"] == "DLTCandidateAdjudicated"
    }
    rows = []
    for patient in record["patients"]:
        summary = patient["summary"]
        candidates = {
            e["ae_id"]: e for e in patient["events"] if e["event"] == "DLTCandidateRaised"
        }
        first = summary["first_dose"]
        for ae in summary["adverse_events"]:
            if ae["entered_in_error"]:
                continue
            candidate = candidates.get(ae["id"])
            if ae["dlt_verdict"] == "not_dlt" and candidate is None:
                continue
            verdict = adjudicated.get(ae["id"])
            if verdict is not None:
                who = (verdict.get("actor") or {}).get("user_id")
                word = "confirmed" if verdict["confirmed"] else "rejected"
                adjudication = f"SRC {word} ({who}): {verdict['reason']}"
            elif ae["dlt_verdict"] == "candidate" or (
                candidate is not None and ae["id"] in summary["dlt_candidates"]
            ):
                adjudication = "candidate: awaiting the SRC"
            else:
                adjudication = "DLT by the protocol's criteria"
            onset = dt.date.fromisoformat(ae["onset"])
            rows.append(
                {
                    "subject_id": summary["subject_id"],
                    "level": summary["level"],
                    "cohort": summary["cohort"],
                    "term": ae["term"],
                    "grade": ae["worst_grade"],
                    "onset": ae["onset"],
                    "onset_day": None
                    if first is None
                    else (onset - dt.date.fromisoformat(first)).days + 1,
                    "attribution": ae["attribution"],
                    "criterion": ae["dlt_criterion"] or (candidate or {}).get("criterion", ""),
                    "adjudication": adjudication,
                }
            )
    return rows


def ae_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """Patients per AE term × worst CTCAE grade × dose level, each patient once per term at the
    worst grade the term reached for them, at the patient's level: the safety table's counts,
    with its ``terms`` in its shape, and the doses given against an open requirement."""
    worst: dict[tuple[str, int, str], int] = {}
    treated: dict[int, int] = {}
    for patient in record["patients"]:
        summary = patient["summary"]
        treated[summary["level"]] = treated.get(summary["level"], 0) + 1
        for ae in summary["adverse_events"]:
            if ae["entered_in_error"] or ae["worst_grade"] < 1:
                continue
            key = (ae["term"], summary["level"], summary["id"])
            worst[key] = max(worst.get(key, 0), ae["worst_grade"])
    counts: dict[str, dict[int, dict[int, int]]] = {}
    for (term, level, _), grade in worst.items():
        by_grade = counts.setdefault(term, {}).setdefault(level, {})
        by_grade[grade] = by_grade.get(grade, 0) + 1
    terms = term_rows(counts)
    levels = [
        {"level": lv["level"], "patients": treated.get(lv["level"], 0)}
        for lv in record["trial"]["protocol"]["dose_levels"]
    ]
    return {"levels": levels, "terms": terms, "deviations": _deviations(record)}


def _deviations(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {
            "subject_id": p["summary"]["subject_id"],
            "patient_id": p["summary"]["id"],
            "level": p["summary"]["level"],
            "clinical_date": e["clinical_date"],
            "reason": e["reason"],
            "requirements": e["requirements"],
        }
        for p in record["patients"]
        for e in p["events"]
        if e["event"] == "DoseDeviationRecorded"
    ]
    return sorted(rows, key=lambda r: (r["clinical_date"], r["subject_id"]))


def open_items(record: Mapping[str, Any]) -> dict[str, Any]:
    """Open requirements (holds, reductions, discontinuations awaited) and open reminders."""
    requirements, reminders = [], []
    subjects = {p["summary"]["id"]: p["summary"]["subject_id"] for p in record["patients"]}
    at = record["at"]
    for patient in record["patients"]:
        summary = patient["summary"]
        terms = {ae["id"]: ae["term"] for ae in summary["adverse_events"]}
        for req in summary["requirements"]:
            requirements.append(
                {
                    "subject_id": summary["subject_id"],
                    "term": terms.get(req["ae_id"], ""),
                    "action": req["action"],
                    "since": req["held_since"] or req["since"],
                    "condition": req["resume_condition"] or "",
                    "deadline": req["deadline"],
                    "met_on": req["met_on"],
                    "rule": req["rule"],
                }
            )
        reminders += patient["open_reminders"]
    reminders += record["trial"]["open_reminders"]
    rows = [
        {
            "kind": r["kind"],
            "subject_id": subjects.get(r["patient_id"] or "", "SRC"),
            "due_at": r["due_at"],
            "overdue": r["due_at"] <= at,
        }
        for r in reminders
    ]
    rows.sort(key=lambda r: (r["due_at"], r["subject_id"], r["kind"]))
    return {"requirements": requirements, "reminders": rows}


def since_last_decision(record: Mapping[str, Any]) -> dict[str, Any]:
    """Deviations and corrections recorded after the last SRC decision (all, if none yet)."""
    signed = [
        e["recorded_at"] for e in record["trial"]["events"] if e["event"] == "SRCDecisionSigned"
    ]
    since = max(signed) if signed else None
    rows = []
    sources = [("", record["trial"]["events"])] + [
        (p["summary"]["subject_id"], p["events"]) for p in record["patients"]
    ]
    for subject, events in sources:
        for e in events:
            kind = _SINCE.get(e["event"])
            if kind is None or (since is not None and e["recorded_at"] <= since):
                continue
            rows.append(
                {
                    "recorded_at": e["recorded_at"],
                    "subject_id": subject or f"cohort {e.get('cohort')}",
                    "kind": kind,
                    "what": _what(e),
                    "reason": e.get("reason") or "",
                    "by": (e.get("actor") or {}).get("user_id"),
                }
            )
    rows.sort(key=lambda r: (r["recorded_at"], r["subject_id"]))
    return {"since": since, "rows": rows}


def _what(e: Mapping[str, Any]) -> str:
    name = e["event"]
    if name == "FactCorrected":
        changes = "; ".join(f"{k} {old} → {new}" for k, (old, new) in e["changes"].items())
        return f"{e['fact']} {e['ref']}: {changes}"
    if name == "FactEnteredInError":
        return f"{e['fact']} {e['ref']} entered in error"
    if name in ("DLTOutcomeRevised", "OutcomeRevised"):
        return f"{e['old_outcome'] or 'awaited'} → {e['new_outcome'] or 'awaited'}"
    if name == "DoseDeviationRecorded":
        return f"dose on {e['clinical_date']} against an open requirement"
    if name == "DecisionFlaggedForReview":
        return f"DLTs {e['old_dlts']} → {e['new_dlts']}"
    return str(e.get("outcome", ""))


def recommendation(
    record: Mapping[str, Any], cohorts: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The current recommendation and the design's rule that produced it."""
    summary = record["trial"]["summary"]
    protocol = record["trial"]["protocol"]
    evaluated: dict[int, int] = {}
    for row in cohorts:
        evaluated[row["level"]] = evaluated.get(row["level"], 0) + row["evaluable"]
    levels = [
        {
            "level": lv["level"],
            "patients": lv["patients"],
            "evaluated": evaluated.get(lv["level"], 0),
            "dlts": lv["dlts"],
        }
        for lv in summary["levels"]
    ]
    facts = DesignFacts(
        design=protocol["design"],
        num_levels=len(protocol["dose_levels"]),
        levels=levels,
        current_level=summary["current_level"],
        open_cohort=summary["cohorts"][-1],
        recommendation=summary["recommendation"],
        status=summary["status"],
    )
    terms = design_terms(facts)
    rec = summary["recommendation"]
    return {
        "action": None if rec is None else rec["action"],
        "next_dose": None if rec is None else rec.get("next_dose"),
        "mtd": None if rec is None else rec.get("mtd"),
        "rule": terms.rule,
        "parameters": terms.parameters,
    }


def packet_content(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every fact the packet shows, from its record (plain data in, plain data out)."""
    trial, protocol = record["trial"]["summary"], record["trial"]["protocol"]
    at = dt.datetime.fromisoformat(record["at"])
    cohorts = cohort_table(record)
    lanes = [
        lane(p, protocol, local_date(at, p["summary"]["site_time_zone"] or "UTC"))
        for p in record["patients"]
    ]
    rec = recommendation(record, cohorts)
    return {
        "header": {
            "trial_id": trial["id"],
            "name": trial["name"],
            "protocol_id": protocol["id"],
            "protocol_title": protocol["title"],
            "protocol_version": protocol["version"],
            "design": protocol["design"].get("kind", "3+3"),
            "design_parameters": rec["parameters"],
            "schedule": protocol["schedule"],
            "dlt_window_days": protocol["dlt_window_days"],
            "dose_levels": _doses_per_agent(protocol),
            "status": trial["status"],
            "current_level": trial["current_level"],
            "mtd": trial["mtd"],
            "mtd_dose": trial["mtd_dose"],
            "outcomes": trial["outcomes"],
            "patients": len(record["patients"]),
            "as_of": record["as_of"],
            "at": record["at"],
        },
        "recommendation": rec,
        "cohorts": cohorts,
        "escalation": escalation(record, cohorts),
        "lanes": lanes,
        "dlts": dlt_listing(record),
        "ae_summary": ae_summary(record),
        "open": open_items(record),
        "since_last_decision": since_last_decision(record),
        "binding": record["binding"],
    }
