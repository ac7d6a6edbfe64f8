"""A patient's adverse events, as state inside the Patient aggregate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

ResumeAt = Literal["same", "reduced"]


@dataclass
class AdverseEvent:
    """One AE episode: its term, current and worst grade, and whether it has resolved."""

    id: UUID
    term: str
    grade: int
    worst_grade: int
    ctcae_version: str
    onset: dt.date
    attribution: str
    serious: bool
    occurrence: int
    eye: str | None = None
    bcva_logmar: float | None = None
    resolved_on: dt.date | None = None
    dlt_verdict: str = "not_dlt"
    dlt_criterion: str = ""
    dlt_reached_on: dt.date | None = None
    """The day the AE reached the grade of its DLT verdict (its onset, or a later worsening)."""
    in_error: bool = False
    grades: list[int] = field(default_factory=list)
    """Every grade recorded for the episode, in order (0: resolved); the last is current."""

    @property
    def is_open(self) -> bool:
        """True until the AE is recorded as resolved (or marked entered in error)."""
        return self.resolved_on is None and not self.in_error

    def regrade(self, grade: int) -> None:
        """Record a new grade (0 = resolved): current and worst grade follow."""
        self.grades.append(grade)
        self.grade = grade
        self.worst_grade = max(self.grades)

    def replace_last_grade(self, grade: int) -> None:
        """A correction of the latest recorded grade."""
        if self.grades:
            self.grades[-1] = grade
        else:
            self.grades.append(grade)
        self.grade = grade
        self.worst_grade = max(self.grades)
