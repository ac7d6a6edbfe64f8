"""What BOIN, i3+3 and mTPI-2 share: elimination, stopping, the next dose and the final MTD.

Each design contributes only its rule at the current dose (escalate / stay / de-escalate, from
that dose's patients and DLTs). Around it, as R ``BOIN`` 2.7 (``get.oc``, ``select.mtd``) does:

- a dose with at least 3 patients and P(p > target | data) > ``cutoff_eli`` (Beta(1, 1) prior)
  is eliminated with every dose above it; that overrides the rule (de-escalate, or stop with no
  MTD at the lowest dose). ``extrasafe`` stops too when the lowest dose passes
  ``cutoff_eli - offset``;
- escalation into an eliminated dose, or above the top, stays; de-escalation below the lowest
  dose stays;
- the trial stops, and an MTD is selected, when ``max_n`` patients have been treated, or when
  the decision is to stay at a dose that already has ``n_earlystop`` patients (BOIN 2.7's rule);
- the MTD is the dose, among those given and not eliminated, whose isotonic estimate is closest
  to the target (:func:`domain.designs.isotonic.closest_to_target`).

Decisions are taken after whole cohorts: while the number of patients is not a multiple of the
cohort size, the cohort in progress is completed at its dose (as the 3+3 engine does), unless
that dose is already eliminated: then the trial leaves it at once. (Operating characteristics,
like R's, enrol whole cohorts together, so they never meet that case.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

from domain.designs.isotonic import closest_to_target, isotonic_rates
from domain.designs.posterior import elimination_threshold, prob_above
from domain.designs.three_plus_three import PatientOutcome, level_counts, parse_outcomes
from domain.errors import InvalidInput

__all__ = [
    "BoundaryRow",
    "DoseRule",
    "IntervalDesign",
    "IntervalRecommendation",
    "Move",
    "boundary_at",
    "boundary_rows",
    "decide",
    "eliminated_levels",
    "recommend",
    "recommend_text",
    "select_mtd",
]

Move = Literal["escalate", "stay", "de-escalate"]
Cell = Literal["escalate", "stay", "de-escalate", "eliminate"]
IntervalAction = Literal["enrol", "escalate", "stay", "de-escalate", "declare_mtd", "stop_no_mtd"]


class DoseRule(Protocol):
    """A design's decision at the current dose from that dose's patients and DLTs."""

    @property
    def kind(self) -> str: ...

    @property
    def target(self) -> float: ...

    def move(self, patients: int, dlts: int) -> Move: ...

    def parameters(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class IntervalDesign:
    """A dose rule with the settings every interval design shares (R ``BOIN``'s defaults)."""

    rule: DoseRule
    cohort_size: int = 3
    max_n: int = 30
    n_earlystop: int = 100
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05

    def __post_init__(self) -> None:
        _at_least(1, self.cohort_size, "cohort_size")
        _at_least(self.cohort_size, self.max_n, "max_n")
        if self.max_n % self.cohort_size:
            raise InvalidInput(
                f"max_n is {self.max_n}; it must be a whole number of cohorts of "
                f"{self.cohort_size}",
                field="max_n",
            )
        _at_least(1, self.n_earlystop, "n_earlystop")
        if not 0.5 <= self.cutoff_eli < 1.0:
            raise InvalidInput(
                f"cutoff_eli is {self.cutoff_eli}; the elimination cut-off is a posterior "
                "probability between 0.5 and 1 (0.95 is usual)",
                field="cutoff_eli",
            )
        if not 0.0 < self.offset < 0.5:
            raise InvalidInput(
                f"offset is {self.offset}; it must be between 0 and 0.5", field="offset"
            )

    @property
    def kind(self) -> str:
        """The design's name: boin, i3+3 or mtpi2."""
        return self.rule.kind

    @property
    def target(self) -> float:
        """The target DLT rate."""
        return self.rule.target

    def cell(self, patients: int, dlts: int) -> Cell:
        """The decision table's entry for ``dlts`` DLTs in ``patients`` at the current dose."""
        return _cell(self, patients, dlts)


def _at_least(minimum: int, value: int, name: str) -> None:
    if value < minimum:
        raise InvalidInput(f"{name} is {value}; it must be at least {minimum}", field=name)


@lru_cache(maxsize=65536)
def _cell(design: IntervalDesign, patients: int, dlts: int) -> Cell:
    threshold = elimination_threshold(design.target, patients, design.cutoff_eli)
    if threshold is not None and dlts >= threshold:
        return "eliminate"
    return design.rule.move(patients, dlts)


@dataclass(frozen=True, slots=True)
class BoundaryRow:
    """One column of a decision table: the DLT counts at which each decision starts."""

    n: int
    escalate_at_most: int | None
    deescalate_at_least: int | None
    eliminate_at_least: int | None

    def as_json(self) -> dict[str, int | None]:
        """Return the wire form."""
        return {
            "n": self.n,
            "escalate_at_most": self.escalate_at_most,
            "deescalate_at_least": self.deescalate_at_least,
            "eliminate_at_least": self.eliminate_at_least,
        }


def boundary_at(design: IntervalDesign, n: int) -> BoundaryRow:
    """The decision table's column for ``n`` patients at a dose (None: no such count)."""
    cells = [design.cell(n, dlts) for dlts in range(n + 1)] if n else []
    escalate = [dlts for dlts, c in enumerate(cells) if c == "escalate"]
    down = [dlts for dlts, c in enumerate(cells) if c in ("de-escalate", "eliminate")]
    return BoundaryRow(
        n=n,
        escalate_at_most=max(escalate) if escalate else None,
        deescalate_at_least=min(down) if down else None,
        eliminate_at_least=elimination_threshold(design.target, n, design.cutoff_eli),
    )


def boundary_rows(design: IntervalDesign) -> tuple[BoundaryRow, ...]:
    """The decision table at each multiple of the cohort size, as R ``get.boundary`` lists it.

    Columns run up to the smaller of ``max_n`` and ``n_earlystop``; de-escalation starts no
    later than elimination (elimination de-escalates).
    """
    last = min(design.max_n, design.n_earlystop)
    return tuple(
        boundary_at(design, n) for n in range(design.cohort_size, last + 1, design.cohort_size)
    )


def eliminated_levels(
    design: IntervalDesign, patients: Sequence[int], dlts: Sequence[int]
) -> tuple[int, ...]:
    """The eliminated levels, from patients and DLTs per level (index 0 is level 1)."""
    num_doses = len(patients)
    first: int | None = None
    for index in range(num_doses):
        if patients[index] and design.cell(patients[index], dlts[index]) == "eliminate":
            first = index + 1
            break
    if (
        design.extrasafe
        and patients[0] >= 3
        and prob_above(design.target, patients[0], dlts[0]) > design.cutoff_eli - design.offset
    ):
        first = 1
    return () if first is None else tuple(range(first, num_doses + 1))


def select_mtd(design: IntervalDesign, patients: Sequence[int], dlts: Sequence[int]) -> int | None:
    """The MTD at the end of the trial (R ``BOIN::select.mtd``), or None: no dose qualifies."""
    eliminated = set(eliminated_levels(design, patients, dlts))
    if 1 in eliminated:
        return None
    admissible = [
        level
        for level in range(1, len(patients) + 1)
        if patients[level - 1] > 0 and level not in eliminated
    ]
    if not admissible:
        return None
    estimates = isotonic_rates(
        [patients[level - 1] for level in admissible], [dlts[level - 1] for level in admissible]
    )
    return admissible[closest_to_target(design.target, estimates)]


@dataclass(frozen=True, slots=True)
class IntervalRecommendation:
    """What an interval design says after the path so far."""

    next_dose: int | None
    continue_trial: bool
    mtd: int | None
    action: IntervalAction
    eliminated: tuple[int, ...] = field(default=())

    def as_json(self) -> dict[str, object]:
        """Return the wire form: next_dose, continue, mtd and the eliminated levels."""
        return {
            "next_dose": self.next_dose,
            "continue": self.continue_trial,
            "mtd": self.mtd,
            "eliminated": list(self.eliminated),
        }


def decide(
    design: IntervalDesign,
    patients: Sequence[int],
    dlts: Sequence[int],
    last: int | None,
) -> IntervalRecommendation:
    """Recommend from the counts per level (index 0 = level 1) and the last patient's level."""
    num_doses = len(patients)
    if last is None:
        return IntervalRecommendation(1, True, None, "enrol")
    eliminated = eliminated_levels(design, patients, dlts)

    def stop() -> IntervalRecommendation:
        mtd = select_mtd(design, patients, dlts)
        action: IntervalAction = "stop_no_mtd" if mtd is None else "declare_mtd"
        return IntervalRecommendation(None, False, mtd, action, eliminated)

    def go(level: int, action: IntervalAction) -> IntervalRecommendation:
        return IntervalRecommendation(level, True, None, action, eliminated)

    total = sum(patients)
    if total % design.cohort_size and last not in eliminated:
        return go(last, "enrol")
    # An eliminated dose is left at once, even with its cohort in progress.
    if 1 in eliminated:
        return IntervalRecommendation(None, False, None, "stop_no_mtd", eliminated)
    if total >= design.max_n:
        return stop()
    if last in eliminated:
        # Eliminated with or through a lower dose: go below the lowest eliminated one.
        return go(eliminated[0] - 1, "de-escalate")
    n, x = patients[last - 1], dlts[last - 1]
    cell = design.cell(n, x)
    if cell == "eliminate":
        return go(last - 1, "de-escalate")
    if cell == "escalate" and last < num_doses and last + 1 not in eliminated:
        return go(last + 1, "escalate")
    if cell == "de-escalate" and last > 1:
        return go(last - 1, "de-escalate")
    if n >= design.n_earlystop:
        return stop()
    return go(last, "stay")


def recommend(
    path: Sequence[PatientOutcome], num_doses: int, design: IntervalDesign
) -> IntervalRecommendation:
    """Recommend the next dose, or stop and name the MTD, after the patients in ``path``."""
    counts = level_counts(path, num_doses)
    return decide(
        design,
        [c.patients for c in counts],
        [c.dlts for c in counts],
        path[-1].level if path else None,
    )


def recommend_text(text: str, num_doses: int, design: IntervalDesign) -> IntervalRecommendation:
    """Parse an outcome string and recommend, as :func:`recommend` does."""
    return recommend(parse_outcomes(text), num_doses, design)
