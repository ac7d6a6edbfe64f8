"""A cohort: patients treated together at one dose level, and their DLT-window outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from domain.designs.three_plus_three import PatientOutcome

Outcome = Literal["dlt", "no_dlt", "not_evaluable"]
OUTCOMES: tuple[Outcome, ...] = ("dlt", "no_dlt", "not_evaluable")
CohortOrigin = Literal["start", "escalation", "expansion", "stay", "de-escalation"]


@dataclass
class Cohort:
    """Mutable cohort state inside the Trial aggregate (changed only by its events)."""

    number: int
    level: int
    size: int
    origin: CohortOrigin
    patients: list[UUID] = field(default_factory=list)
    outcomes: dict[UUID, Outcome] = field(default_factory=dict)
    candidates: dict[UUID, list[UUID]] = field(default_factory=dict)

    @property
    def active(self) -> list[UUID]:
        """Patients who still count towards the cohort (not replaced as non-evaluable)."""
        return [p for p in self.patients if self.outcomes.get(p) != "not_evaluable"]

    @property
    def open_places(self) -> int:
        """How many more patients the cohort takes (replacements included)."""
        return self.size - len(self.active)

    @property
    def awaiting_outcome(self) -> list[UUID]:
        """Active patients whose DLT window has no outcome yet."""
        return [p for p in self.active if p not in self.outcomes]

    @property
    def fully_evaluated(self) -> bool:
        """True when the cohort is full and every active patient has a DLT-window outcome."""
        return self.open_places == 0 and not self.awaiting_outcome and not self.pending_candidates

    @property
    def pending_candidates(self) -> int:
        """DLT candidates in this cohort still awaiting SRC adjudication."""
        return sum(len(aes) for aes in self.candidates.values())

    @property
    def dlts(self) -> int:
        """Patients with a DLT in this cohort."""
        return sum(1 for o in self.outcomes.values() if o == "dlt")

    @property
    def evaluable(self) -> int:
        """Patients evaluable for DLT in this cohort."""
        return sum(1 for o in self.outcomes.values() if o in ("dlt", "no_dlt"))

    def path(self) -> list[PatientOutcome]:
        """Evaluated patients of this cohort, in enrolment order, for the 3+3 engine."""
        return [
            PatientOutcome(level=self.level, dlt=self.outcomes[p] == "dlt")
            for p in self.patients
            if self.outcomes.get(p) in ("dlt", "no_dlt")
        ]

    def unreplaced_non_evaluable(self) -> UUID | None:
        """The earliest non-evaluable patient that no later enrolment has replaced yet."""
        dropped = [p for p in self.patients if self.outcomes.get(p) == "not_evaluable"]
        # Each enrolment beyond the cohort size replaces one dropped patient, in order.
        replaced = max(0, len(self.patients) - self.size)
        return dropped[replaced] if replaced < len(dropped) else None
