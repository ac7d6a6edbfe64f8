"""What a site reports: an adverse event or a skin assessment, before the Patient records it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from domain.ctcae import CtcaeTerm
from domain.errors import InvalidInput
from domain.grading import NUMERIC_TERMS, grade_alt, grade_ast, grade_bilirubin

_WITH_BASELINE = {
    "Alanine aminotransferase increased": grade_alt,
    "Aspartate aminotransferase increased": grade_ast,
    "Blood bilirubin increased": grade_bilirubin,
}


@dataclass(frozen=True)
class AdverseEventReport:
    """An AE as the investigator reports it (term, grade or measurement, onset, attribution)."""

    term: str
    onset: dt.date
    attribution: str
    grade: int | None = None
    ctcae_version: str | None = None
    ctcae_version_reason: str = ""
    serious: bool = False
    measurement: dict[str, Any] | None = None
    intolerable: bool = False
    eye: str | None = None
    bcva: str | None = None
    clinically_significant: bool = True
    with_bleeding: bool = False
    duration_days: int | None = None


@dataclass(frozen=True)
class SkinAssessment:
    """A study visit's skin assessment: location, % BSA and symptoms of acneiform rash."""

    clinical_date: dt.date
    location: str
    bsa_percent: float
    symptoms: str
    ctcae_version: str | None = None
    ctcae_version_reason: str = ""
    life_threatening: bool = False
    attribution: str = "possible"
    intolerable: bool = False


def graded(
    term: CtcaeTerm,
    grade: int | None,
    measurement: dict[str, Any] | None,
    *,
    recovery: bool = False,
) -> int | None:
    """The grade, computed from a lab measurement where CTCAE defines one; checks they agree.

    A measurement within normal limits (grade 0) is no new AE, but for a ``recovery`` (a
    grade change of a recorded AE) it is the resolution, grade 0 (domain.md §7a).
    """
    if not measurement or term.term not in NUMERIC_TERMS:
        return grade
    value = measurement.get("value")
    limit = measurement.get("uln", measurement.get("lln"))
    if not isinstance(value, int | float) or not isinstance(limit, int | float):
        raise InvalidInput(
            f"a {term.term} measurement needs numeric 'value' and 'uln' (or 'lln')",
            field="measurement",
        )
    baseline = measurement.get("baseline")
    if term.term in _WITH_BASELINE and baseline is not None:
        computed = _WITH_BASELINE[term.term](float(value), float(limit), float(baseline))
    else:
        computed = NUMERIC_TERMS[term.term](float(value), float(limit))
    if computed == 0 and not recovery:
        raise InvalidInput(
            f"{term.term} {value} is within normal limits ({limit}): not an adverse event",
            field="measurement",
        )
    if grade is not None and grade != computed:
        raise InvalidInput(
            f"grade {grade} does not match the measurement ({term.term} {value} against "
            f"{limit}: grade {computed})",
            field="grade",
        )
    return computed
