"""Which adverse events are dose-limiting toxicities (domain.md §6), with protocol defaults."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from domain.ctcae import CtcaeTerm

Attribution = Literal["unrelated", "unlikely", "possible", "probable", "definite"]
ATTRIBUTIONS: tuple[str, ...] = get_args(Attribution)
RELATED: frozenset[str] = frozenset({"possible", "probable", "definite"})
Verdict = Literal["dlt", "candidate", "not_dlt"]


class DltCriteria(BaseModel):
    """A protocol's DLT definition; every default is the domain's protocol default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_non_haematological_grade: Annotated[int, Field(ge=2, le=5, strict=True)] = 3
    controlled_gi_terms: tuple[str, ...] = ("Nausea", "Vomiting", "Diarrhea")
    lab_soc: str = "Investigations"
    neutropenia_term: str = "Neutrophil count decreased"
    neutropenia_min_days: Annotated[int, Field(ge=0, strict=True)] = 7
    febrile_neutropenia_term: str = "Febrile neutropenia"
    thrombocytopenia_term: str = "Platelet count decreased"


@dataclass(frozen=True, slots=True)
class DltAssessment:
    """The policy's verdict on one AE and the criterion that decided it."""

    verdict: Verdict
    criterion: str


def assess_dlt(
    term: CtcaeTerm,
    grade: int,
    *,
    attribution: str,
    onset: dt.date,
    window: tuple[dt.date, dt.date] | None,
    criteria: DltCriteria,
    clinically_significant: bool = True,
    with_bleeding: bool = False,
    duration_days: int | None = None,
) -> DltAssessment:
    """Classify an AE: a DLT, a candidate for SRC adjudication, or not a DLT."""
    if window is None or not window[0] <= onset <= window[1]:
        return DltAssessment("not_dlt", "outside the DLT window")
    if attribution not in RELATED:
        return DltAssessment("not_dlt", f"attribution '{attribution}' (not at least possible)")
    if grade >= 5:
        return DltAssessment("dlt", "grade 5 event")
    name = term.term
    if term.is_haematological:
        return _haematological(name, grade, criteria, with_bleeding, duration_days)
    if grade < criteria.min_non_haematological_grade:
        return DltAssessment("not_dlt", f"non-haematological grade {grade}")
    if grade == 3 and name in criteria.controlled_gi_terms:
        return DltAssessment(
            "candidate",
            f"grade 3 {name.lower()}: not a DLT if controlled to grade 2 or less within 72 h",
        )
    if grade == 3 and term.soc == criteria.lab_soc and not clinically_significant:
        return DltAssessment(
            "candidate",
            "grade 3 laboratory abnormality without clinical significance: "
            "not a DLT if it resolves within 7 days",
        )
    return DltAssessment("dlt", f"non-haematological grade {grade}")


def _haematological(
    name: str, grade: int, criteria: DltCriteria, with_bleeding: bool, duration_days: int | None
) -> DltAssessment:
    if name == criteria.febrile_neutropenia_term:
        return DltAssessment("dlt", "febrile neutropenia")
    if name == criteria.neutropenia_term and grade == 4:
        limit = criteria.neutropenia_min_days
        if duration_days is None:
            return DltAssessment(
                "candidate", f"grade 4 neutropenia: a DLT if it lasts more than {limit} days"
            )
        if duration_days > limit:
            return DltAssessment("dlt", f"grade 4 neutropenia lasting {duration_days} days")
        return DltAssessment("not_dlt", f"grade 4 neutropenia lasting {duration_days} days")
    if name == criteria.thrombocytopenia_term and (grade == 4 or (grade == 3 and with_bleeding)):
        return DltAssessment(
            "dlt",
            "grade 4 thrombocytopenia" if grade == 4 else "grade 3 thrombocytopenia with bleeding",
        )
    return DltAssessment("not_dlt", f"haematological grade {grade} (not a DLT criterion)")
