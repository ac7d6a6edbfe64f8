"""SRC decisions under an interval design (BOIN, i3+3, mTPI-2): pure rules over the cohorts.

The recommendation is the engine's (``domain.designs.interval_designs.decide``) for the
evaluated patients and DLTs per level and the open cohort's level, named in the SRC's
vocabulary: ``escalate``, ``stay`` (another cohort at the same level), ``de-escalate``,
``eliminate-and-de-escalate`` (the open cohort's level is eliminated, with every level above
it: the next cohort goes below the lowest eliminated one), ``declare_mtd`` (the isotonic
selection) and ``stop_no_mtd``.

The SRC may depart from it with a reason, and only where the design's safety rules allow
(domain.md §8, as the 3+3's "never above an exceeded level"): never into an eliminated dose,
never past the maximum sample size, never escalating from a dose whose counts call for
de-escalation, never an MTD at a dose not given, eliminated, or above the isotonic selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from domain.cohort import Cohort
from domain.designs.interval_designs import boundary_at, decide, eliminated_levels, select_mtd
from domain.errors import CommandRefused, InvalidInput
from domain.protocol_design import IntervalSpec

IntervalDecision = Literal[
    "escalate", "stay", "de-escalate", "eliminate-and-de-escalate", "declare_mtd", "stop_no_mtd"
]
INTERVAL_DECISIONS: tuple[str, ...] = get_args(IntervalDecision)


def evaluated_counts(cohorts: Sequence[Cohort], num_levels: int) -> tuple[list[int], list[int]]:
    """Evaluated patients and DLTs per level (index 0 is level 1), over all cohorts."""
    patients, dlts = [0] * num_levels, [0] * num_levels
    for cohort in cohorts:
        patients[cohort.level - 1] += cohort.evaluable
        dlts[cohort.level - 1] += cohort.dlts
    return patients, dlts


@dataclass(frozen=True, slots=True)
class IntervalRecommendation:
    """What the interval design recommends for the open cohort, in the SRC's words."""

    next_dose: int | None
    continue_trial: bool
    mtd: int | None
    action: IntervalDecision
    design: str
    eliminated: tuple[int, ...] = field(default=())
    boundary: dict[str, int | None] | None = None

    def as_json(self) -> dict[str, object]:
        """The wire form: the engine's (next_dose, continue, mtd, eliminated), the design's
        name and the boundaries in force at the open cohort's level."""
        return {
            "next_dose": self.next_dose,
            "continue": self.continue_trial,
            "mtd": self.mtd,
            "eliminated": list(self.eliminated),
            "design": self.design,
            "boundary": self.boundary,
        }


def interval_recommendation(
    spec: IntervalSpec, cohorts: Sequence[Cohort], num_levels: int
) -> IntervalRecommendation | None:
    """The design's recommendation after the (fully evaluated) open cohort."""
    patients, dlts = evaluated_counts(cohorts, num_levels)
    return recommend_from_counts(spec, patients, dlts, cohorts[-1].level)


def recommend_from_counts(
    spec: IntervalSpec, patients: Sequence[int], dlts: Sequence[int], level: int
) -> IntervalRecommendation | None:
    """The design's recommendation from the evaluated patients and DLTs per level (index 0
    is level 1) and the open cohort's level; None while a cohort is short of patients."""
    design = spec.engine()
    rec = decide(design, patients, dlts, level)
    if rec.action == "enrol":
        return None
    action: IntervalDecision = rec.action
    if rec.action == "de-escalate" and level in rec.eliminated:
        action = "eliminate-and-de-escalate"
    row = boundary_at(design, patients[level - 1])
    return IntervalRecommendation(
        next_dose=rec.next_dose,
        continue_trial=rec.continue_trial,
        mtd=rec.mtd,
        action=action,
        design=spec.kind,
        eliminated=rec.eliminated,
        boundary={**row.as_json(), "dlts": dlts[level - 1]},
    )


def check_mtd_level_pairing(decision: str, mtd_level: int | None) -> None:
    """An MTD level goes with declare_mtd, and only with it (every design)."""
    if (mtd_level is not None) != (decision == "declare_mtd"):
        raise CommandRefused(
            "mtd_level is given with declare_mtd, and only with it",
            rule="mtd_level_with_declare_mtd",
            field="mtd_level",
        )


def check_interval_decision(
    decision: str,
    mtd_level: int | None,
    cohorts: Sequence[Cohort],
    spec: IntervalSpec,
    num_levels: int,
) -> int | None:
    """Validate a decision on the open (last) cohort; returns its target level (None for
    stopping without an MTD)."""
    if decision not in INTERVAL_DECISIONS:
        raise InvalidInput(
            f"decision '{decision}' is not one of the {spec.kind} design's: "
            f"{', '.join(INTERVAL_DECISIONS)}",
            field="decision",
        )
    check_mtd_level_pairing(decision, mtd_level)
    design = spec.engine()
    patients, dlts = evaluated_counts(cohorts, num_levels)
    eliminated = eliminated_levels(design, patients, dlts)
    level = cohorts[-1].level
    if decision == "declare_mtd":
        assert mtd_level is not None
        _check_mtd(mtd_level, patients, dlts, eliminated, spec, num_levels)
        return mtd_level
    if decision == "stop_no_mtd":
        return None
    if decision == "eliminate-and-de-escalate":
        if level not in eliminated:
            raise CommandRefused(
                f"dose level {level} is not eliminated by the {spec.kind} design "
                f"({dlts[level - 1]} DLTs in {patients[level - 1]} patients); "
                "de-escalate instead",
                rule="dose_not_eliminated",
                field="decision",
            )
        target = eliminated[0] - 1
    else:
        target = {"escalate": level + 1, "stay": level, "de-escalate": level - 1}[decision]
    if not 1 <= target <= num_levels:
        raise CommandRefused(
            f"cannot {decision} from dose level {level}: levels are 1-{num_levels}",
            rule="no_such_level",
            field="decision",
        )
    if target in eliminated:
        raise CommandRefused(
            f"dose level {target} is eliminated (P(DLT rate > {spec.target:g}) > "
            f"{spec.cutoff_eli:g} there or below); no cohort is treated at it again",
            rule="eliminated_dose",
            field="decision",
        )
    if decision == "escalate" and design.cell(patients[level - 1], dlts[level - 1]) in (
        "de-escalate",
        "eliminate",
    ):
        raise CommandRefused(
            f"cannot escalate from dose level {level}: {dlts[level - 1]} DLTs in "
            f"{patients[level - 1]} patients reach the {spec.kind} de-escalation boundary",
            rule="escalation_above_deescalation_boundary",
            field="decision",
        )
    if sum(patients) + spec.cohort_size > spec.max_n:
        raise CommandRefused(
            f"{sum(patients)} patients have been treated; another cohort of {spec.cohort_size} "
            f"would pass the maximum sample size ({spec.max_n})",
            rule="max_sample_size_reached",
            field="decision",
        )
    return target


def _check_mtd(
    mtd_level: int,
    patients: Sequence[int],
    dlts: Sequence[int],
    eliminated: Sequence[int],
    spec: IntervalSpec,
    num_levels: int,
) -> None:
    if not 1 <= mtd_level <= num_levels or patients[mtd_level - 1] == 0:
        raise CommandRefused(
            f"dose level {mtd_level} was never given; the MTD is a level patients were treated at",
            rule="mtd_untested",
            field="mtd_level",
        )
    if mtd_level in eliminated:
        raise CommandRefused(
            f"dose level {mtd_level} is eliminated ({dlts[mtd_level - 1]} DLTs in "
            f"{patients[mtd_level - 1]} patients, or a lower level is); it cannot be the MTD",
            rule="mtd_eliminated",
            field="mtd_level",
        )
    selected = select_mtd(spec.engine(), patients, dlts)
    if selected is not None and mtd_level > selected:
        raise CommandRefused(
            f"dose level {mtd_level} is above dose level {selected}, whose isotonic DLT-rate "
            f"estimate is closest to the target {spec.target:g}; the MTD is at most that",
            rule="mtd_above_selection",
            field="mtd_level",
        )
