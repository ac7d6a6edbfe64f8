"""Plain-data views of a Trial aggregate: the trial summary and its cohort table."""

from __future__ import annotations

from typing import Any

from domain.trial import Trial
from domain.trial.interval_rules import evaluated_counts
from projections.design_terms import design_terms


def cohort_rows(trial: Trial) -> list[dict[str, Any]]:
    """One row per cohort: level, dose, patients, evaluable, DLTs, recommendation and decision."""
    decisions = {d["cohort"]: d for d in trial.decisions}
    rows = []
    for cohort in trial.cohorts:
        decision = decisions.get(cohort.number)
        rec = (decision or {}).get("recommendation")
        if decision is None and cohort is trial.open_cohort:
            live = trial.recommendation()
            rec = None if live is None else {**live.as_json(), "action": live.action}
        rows.append(
            {
                "cohort": cohort.number,
                "level": cohort.level,
                "dose": trial.protocol.dose_level(cohort.level).label,
                "origin": cohort.origin,
                "enrolled": len(cohort.patients),
                "evaluable": cohort.evaluable,
                "not_evaluable": len(cohort.patients) - len(cohort.active),
                "dlts": cohort.dlts,
                "recommendation": None if rec is None else rec["action"],
                "decision": None if decision is None else decision["decision"],
                "signed_by": None if decision is None else decision["signer"]["user_id"],
                "reason": None if decision is None else decision["reason"],
            }
        )
    return rows


def trial_design(trial: Trial) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The trial's design in its own terms (:mod:`projections.design_terms`)."""
    patients, dlts = evaluated_counts(trial.cohorts, trial.protocol.num_levels)
    return design_terms(
        trial.protocol.design.model_dump(mode="json"),
        patients,
        dlts,
        ended=trial.status != "escalating",
    )


def trial_summary(trial: Trial) -> dict[str, Any]:
    """The trial as plain JSON-ready data."""
    rec = trial.recommendation()
    design, terms = trial_design(trial)
    levels = [
        {
            "level": level.level,
            "dose": level.label,
            "patients": trial.patients_at(level.level),
            "dlts": trial.dlts_at(level.level),
        }
        for level in trial.protocol.dose_levels
    ]
    if terms is not None:
        levels = [{**level, **extra} for level, extra in zip(levels, terms, strict=True)]
    return {
        "id": str(trial.id),
        "name": trial.name,
        "protocol": trial.protocol.id,
        "version": trial.version,
        "status": trial.status,
        "current_level": trial.current_level,
        "mtd": trial.mtd,
        "flagged_for_review": list(trial.flagged_for_review),
        "mtd_dose": None if trial.mtd is None else trial.protocol.dose_level(trial.mtd).label,
        # The 3+3's variant (None under an interval design: its terms are in "design").
        "deescalate": design.get("deescalate"),
        "outcomes": trial.outcome_string(),
        "recommendation": None if rec is None else {**rec.as_json(), "action": rec.action},
        "design": design,
        "levels": levels,
        "cohorts": cohort_rows(trial),
    }


def render_cohort_table(trial: Trial) -> str:
    """The cohort table as fixed-width text, for a terminal."""
    header = ("cohort", "level", "enrolled", "evaluable", "DLTs", "recommended", "decided", "by")
    lines = [header]
    for row in cohort_rows(trial):
        lines.append(
            (
                str(row["cohort"]),
                f"DL{row['level']}",
                str(row["enrolled"]),
                str(row["evaluable"]),
                str(row["dlts"]),
                row["recommendation"] or "-",
                row["decision"] or "-",
                row["signed_by"] or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    levels = [f"  {level.label}" for level in trial.protocol.dose_levels]
    design, _ = trial_design(trial)
    if design["kind"] != "3+3":
        eliminated = ", ".join(f"DL{level}" for level in design["eliminated"]) or "none"
        levels.append(
            f"design: {design['kind']}, target DLT rate {design['target']:g}, "
            f"at most {design['max_n']} patients; eliminated: {eliminated}"
        )
    outcome = f"status: {trial.status.replace('_', ' ')}"
    if trial.mtd is not None:
        outcome += f"; MTD = {trial.protocol.dose_level(trial.mtd).label}"
    path = f"path: {trial.outcome_string() or '(no outcomes yet)'}"
    return "\n".join([f"{trial.name} ({trial.protocol.id})", *levels, "", *text, "", path, outcome])
