"""A patient's adverse events and dose holds, as state inside the Patient aggregate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal
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


@dataclass
class Hold:
    """Dosing withheld: why, until what, and at which dose it resumes."""

    since: dt.date
    ae_id: UUID | None
    resume: ResumeAt | None
    resume_when_grade_at_most: int | None
    resume_when_bcva_at_baseline: bool
    deadline: dt.date | None
    rule: str | None

    def condition(self) -> str:
        """The resume condition in words."""
        if self.resume_when_bcva_at_baseline:
            text = "BCVA back to baseline"
        elif self.resume_when_grade_at_most is not None:
            text = (
                "AE resolved"
                if self.resume_when_grade_at_most == 0
                else f"AE at grade {self.resume_when_grade_at_most} or less"
            )
        else:
            text = "investigator's decision"
        if self.deadline is not None:
            text += f" by {self.deadline}"
        return text

    def is_met(self, ae: AdverseEvent | None, baseline_logmar: float | None) -> bool:
        """True when the resume condition holds for the AE's current state."""
        if ae is None:
            return self.resume_when_grade_at_most is None and not self.resume_when_bcva_at_baseline
        if not ae.is_open:
            return True
        if self.resume_when_bcva_at_baseline:
            return (
                ae.bcva_logmar is not None
                and baseline_logmar is not None
                and ae.bcva_logmar <= baseline_logmar
            )
        if self.resume_when_grade_at_most is not None:
            return ae.grade <= self.resume_when_grade_at_most
        return False

    def as_record(self) -> dict[str, Any]:
        """The hold as plain data (for views)."""
        return {
            "since": self.since.isoformat(),
            "ae_id": None if self.ae_id is None else str(self.ae_id),
            "resume": self.resume,
            "resume_condition": self.condition(),
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "rule": self.rule,
        }
