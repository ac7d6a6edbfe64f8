"""A trial's design in its own terms, for the trial state, the cohort summary and the reports.

For every trial: the design as registered (``kind`` and parameters). For an interval design
(BOIN, i3+3, mTPI-2), per dose level from its evaluated patients and DLTs: the boundaries in
force (the most DLTs that still escalate, the fewest that de-escalate, the fewest that
eliminate, at that number of patients), whether the level is eliminated, and, once the trial
has ended, the isotonic DLT-rate estimate the MTD was selected by. The trial state and the
cohort summary both call :func:`design_terms`, so that they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.designs.interval_designs import boundary_at, eliminated_levels
from domain.designs.isotonic import isotonic_rates
from domain.protocol_design import ThreePlusThree, design_from_data


def design_terms(
    design: dict[str, Any], patients: Sequence[int], dlts: Sequence[int], *, ended: bool
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The design (with its eliminated levels, for an interval design) and the per-level
    terms (None for the 3+3, whose terms are its fixed rules)."""
    spec = design_from_data(design)
    recorded = spec.model_dump(mode="json")
    if isinstance(spec, ThreePlusThree):
        return recorded, None
    engine = spec.engine()
    eliminated = eliminated_levels(engine, patients, dlts)
    admissible = [i for i, n in enumerate(patients) if n > 0 and i + 1 not in eliminated]
    estimates: dict[int, float] = {}
    if ended and admissible:
        rates = isotonic_rates([patients[i] for i in admissible], [dlts[i] for i in admissible])
        estimates = {i + 1: round(rate, 4) for i, rate in zip(admissible, rates, strict=True)}
    levels = []
    for index, n in enumerate(patients):
        row = boundary_at(engine, n).as_json() if n else None
        levels.append(
            {
                "evaluated": n,
                "eliminated": index + 1 in eliminated,
                "boundaries": None if row is None else {k: v for k, v in row.items() if k != "n"},
                "estimate": estimates.get(index + 1),
            }
        )
    return {**recorded, "eliminated": list(eliminated)}, levels
