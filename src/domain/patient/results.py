"""What the Patient's commands return: typed values, not dicts read by string key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from domain.dlt_policy import DltAssessment
from domain.rule_set_model import DoseRecommendation

FACTS = ("adverse_event", "dose", "missed_dose")
"""The recorded facts that can be marked entered in error."""


@dataclass(frozen=True, slots=True)
class GradeChange:
    """A grade change's new recommendation (if any) and new DLT verdict (if it changed)."""

    recommendation: DoseRecommendation | None
    dlt: DltAssessment | None


@dataclass(frozen=True, slots=True)
class SkinResult:
    """A skin assessment's rash grade, the rash AE it concerns, and what it set off."""

    grade: int
    ae_id: UUID | None
    recommendation: DoseRecommendation | None
    dlt: DltAssessment | None


@dataclass(frozen=True, slots=True)
class OutcomeChange:
    """What a correction changes in the DLT window: a DLT withdrawn (``None``), a DLT now,
    or a candidate for the SRC."""

    ae_id: UUID
    outcome: Literal["dlt", "candidate"] | None
    criterion: str


@dataclass(frozen=True, slots=True)
class Correction:
    """A correction's re-evaluated recommendation and its change to the DLT outcome."""

    recommendation: DoseRecommendation | None
    outcome: OutcomeChange | None
