"""The cohort summary's query: a trial's cohorts, dose levels and design, in plain SQL reads."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.errors import NotFound
from projections.design_terms import design_terms
from projections.models.base import loads
from projections.models.cohort_summary import COHORT_COLUMNS, TRIAL_COLUMNS
from projections.store import Store, Transaction


def cohort_summary(tx: Transaction, store: Store, trial_id: UUID) -> dict[str, Any]:
    """The trial's cohorts and dose levels, or NotFound."""
    meta = tx.fetchone(
        f"SELECT {', '.join(TRIAL_COLUMNS)} FROM {store.qualified('cohort_trials')} "
        "WHERE trial_id = ?",
        (str(trial_id),),
    )
    if meta is None:
        raise NotFound(f"no trial {trial_id}", kind="trial", ident=str(trial_id))
    trial = dict(zip(TRIAL_COLUMNS, meta, strict=True))
    rows = tx.fetchall(
        f"SELECT {', '.join(COHORT_COLUMNS)} FROM {store.qualified('cohorts')} "
        "WHERE trial_id = ? ORDER BY cohort",
        (str(trial_id),),
    )
    reviews: dict[int, list[dict[str, Any]]] = {}
    for cohort, old_dlts, new_dlts, reason, reviewed_by, review in tx.fetchall(
        "SELECT cohort, old_dlts, new_dlts, reason, reviewed_by, review FROM "
        f"{store.qualified('cohort_reviews')} WHERE trial_id = ? ORDER BY position",
        (str(trial_id),),
    ):
        reviews.setdefault(cohort, []).append(
            {
                "dlts": [old_dlts, new_dlts],
                "reason": reason,
                "reviewed_by": reviewed_by,
                "review": review,
            }
        )
    cohorts = []
    for found in rows:
        row = dict(zip(COHORT_COLUMNS, found, strict=True))
        pending = loads(row.pop("pending_candidates"))
        del row["trial_id"]
        row["pending_dlt_candidates"] = sum(pending.values())
        row["rereview"] = reviews.get(row["cohort"], [])
        cohorts.append(row)
    design_row = tx.fetchone(
        f"SELECT design FROM {store.qualified('cohort_designs')} WHERE trial_id = ?",
        (str(trial_id),),
    )
    recorded = (
        {"kind": "3+3", "deescalate": bool(trial["deescalate"])}
        if design_row is None
        else loads(design_row[0])
    )
    levels = [
        {
            "level": dose["level"],
            "dose": dose["dose"],
            "patients": sum(
                c["enrolled"] - c["not_evaluable"] for c in cohorts if c["level"] == dose["level"]
            ),
            "dlts": sum(c["dlts"] for c in cohorts if c["level"] == dose["level"]),
        }
        for dose in loads(trial["dose_levels"])
    ]
    evaluated = [sum(c["evaluable"] for c in cohorts if c["level"] == lv["level"]) for lv in levels]
    dlts = [lv["dlts"] for lv in levels]
    design, terms = design_terms(recorded, evaluated, dlts, ended=trial["status"] != "escalating")
    if terms is not None:
        levels = [{**level, **extra} for level, extra in zip(levels, terms, strict=True)]
    return {
        "trial_id": str(trial_id),
        "status": trial["status"],
        "design": design,
        "cohorts": cohorts,
        "levels": levels,
    }
