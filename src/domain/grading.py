"""CTCAE grades computed from measurements (domain.md §4; CTCAE v5.0 unless a version is given).

Every function returns an int grade, 0 meaning within normal limits (not an adverse event), and
refuses out-of-range input with ``InvalidInput`` naming the offending argument. Bands are
lower-exclusive and upper-inclusive for "increased" terms (exactly 2.5×ULN CPK is grade 1) and
follow the table's "<" for "decreased" counts (exactly 1500 neutrophils/mm³ is grade 1).

Lab values are compared as the decimals they were written as (``Decimal(repr(x))``): in binary
floating point 1.5 × 33.3 is 49.949999999999996, which would put a bilirubin of exactly 1.5×ULN
into grade 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final, Literal, get_args

from domain.errors import InvalidInput
from domain.vision import VisualAcuity

Symptoms = Literal["none", "mild", "moderate", "severe"]
CtcaeVersion = Literal["4.0", "5.0"]

_SYMPTOMS: Final[tuple[str, ...]] = get_args(Symptoms)
_VERSIONS: Final[tuple[str, ...]] = get_args(CtcaeVersion)

V4_GRADED_TERMS: Final[tuple[str, ...]] = ("Rash acneiform",)
"""Terms this module can grade under CTCAE v4.0 (every other term is graded under v5.0 only)."""

# Multiples of the reference a value must exceed for grades 1, 2, 3 and 4.
_CPK_ULN = tuple(Decimal(x) for x in ("1", "2.5", "5", "10"))
_AMINOTRANSFERASE_ULN = tuple(Decimal(x) for x in ("1", "3", "5", "20"))
_AMINOTRANSFERASE_BASELINE = tuple(Decimal(x) for x in ("1.5", "3", "5", "20"))
# Bilirubin uses the same multiples whether the reference is the ULN or an abnormal baseline.
_BILIRUBIN = tuple(Decimal(x) for x in ("1", "1.5", "3", "10"))
# Counts per mm³ a value must fall below for grades 2, 3 and 4 (grade 1 is below the LLN).
_NEUTROPHIL_CUTS = tuple(Decimal(x) for x in ("1500", "1000", "500"))
_PLATELET_CUTS = tuple(Decimal(x) for x in ("75000", "50000", "25000"))

# VisualAcuity keeps logMAR to 0.01, so these compare exactly with its values.
_LOGMAR_20_40: Final = 0.3
_LOGMAR_20_200: Final = 1.0


def grade_cpk(value: float, uln: float) -> int:
    """Grade CPK increased from a value and the upper limit of normal."""
    return _above(_measured(value, "value"), _limit(uln, "uln"), _CPK_ULN)


def grade_alt(value: float, uln: float, baseline: float | None = None) -> int:
    """Grade ALT increased against the ULN, or against an abnormal (> ULN) baseline."""
    return _aminotransferase(value, uln, baseline)


def grade_ast(value: float, uln: float, baseline: float | None = None) -> int:
    """Grade AST increased against the ULN, or against an abnormal (> ULN) baseline."""
    return _aminotransferase(value, uln, baseline)


def grade_bilirubin(value: float, uln: float, baseline: float | None = None) -> int:
    """Grade blood bilirubin increased against the ULN, or an abnormal (> ULN) baseline."""
    measured, limit = _measured(value, "value"), _limit(uln, "uln")
    abnormal = _abnormal_baseline(limit, baseline)
    return _above(measured, limit if abnormal is None else abnormal, _BILIRUBIN)


def grade_neutrophils(count_per_mm3: float, lln: float) -> int:
    """Grade neutrophil count decreased from a count per mm³ and the lower limit of normal."""
    return _below(_measured(count_per_mm3, "count_per_mm3"), _limit(lln, "lln"), _NEUTROPHIL_CUTS)


def grade_platelets(count_per_mm3: float, lln: float) -> int:
    """Grade platelet count decreased from a count per mm³ and the lower limit of normal."""
    return _below(_measured(count_per_mm3, "count_per_mm3"), _limit(lln, "lln"), _PLATELET_CUTS)


def grade_rash_acneiform(
    bsa_percent: float,
    symptoms: Symptoms,
    *,
    version: CtcaeVersion,
    life_threatening: bool = False,
) -> int:
    """Grade rash acneiform from % body surface area and symptoms under CTCAE v4.0 or v5.0."""
    bsa = _measured(bsa_percent, "bsa_percent")
    if bsa > 100:
        raise InvalidInput(f"bsa_percent must be 0..100, not {bsa_percent!r}", field="bsa_percent")
    if symptoms not in _SYMPTOMS:
        raise InvalidInput(
            f"symptoms must be one of {', '.join(_SYMPTOMS)}, not {symptoms!r}", field="symptoms"
        )
    if version not in _VERSIONS:
        raise InvalidInput(
            f"CTCAE version for rash acneiform must be 4.0 or 5.0, not {version!r}",
            field="version",
        )
    if not isinstance(life_threatening, bool):
        raise InvalidInput(
            f"life_threatening must be true or false, not {life_threatening!r}",
            field="life_threatening",
        )
    if life_threatening:
        return 4
    if bsa == 0 and symptoms == "none":
        return 0
    # Symptoms with no measurable BSA still count as grade 1: both versions allow G1 "with or
    # without" symptoms, and a rash too small to measure is still a rash.
    if bsa < 10:
        return 1
    if bsa <= 30:
        return 2
    # Above 30 % the versions part: v4.0 is G3 whatever the symptoms, v5.0 needs moderate/severe.
    if version == "4.0" or symptoms in ("moderate", "severe"):
        return 3
    return 2


def grade_blurred_vision(bcva: VisualAcuity, baseline: VisualAcuity) -> int:
    """Grade blurred vision from BCVA against the baseline BCVA of the same eye.

    0 means no loss from baseline: grade 1 (symptoms, no intervention) cannot be told from
    acuity. Where the v5.0 grade 2 and 3 criteria overlap (worse than 20/40 but at most 3 lines
    lost, or 20/40 or better but more than 3 lines lost) the higher grade, 3, is returned.
    """
    if not isinstance(bcva, VisualAcuity):
        raise InvalidInput(f"bcva must be a visual acuity, not {bcva!r}", field="bcva")
    if not isinstance(baseline, VisualAcuity):
        raise InvalidInput(f"baseline must be a visual acuity, not {baseline!r}", field="baseline")
    if not bcva.is_worse_than(baseline):
        return 0
    if bcva.logmar >= _LOGMAR_20_200:
        return 4
    if bcva.logmar > _LOGMAR_20_40 or bcva.lines_lost_from(baseline) > 3:
        return 3
    return 2


NUMERIC_TERMS: Final[dict[str, Callable[[float, float], int]]] = {
    "CPK increased": grade_cpk,
    "Alanine aminotransferase increased": grade_alt,
    "Aspartate aminotransferase increased": grade_ast,
    "Blood bilirubin increased": grade_bilirubin,
    "Neutrophil count decreased": grade_neutrophils,
    "Platelet count decreased": grade_platelets,
}
"""Graders of (value, limit) keyed by CTCAE term, limit being the ULN or LLN the term uses."""


def _aminotransferase(value: float, uln: float, baseline: float | None) -> int:
    measured, limit = _measured(value, "value"), _limit(uln, "uln")
    abnormal = _abnormal_baseline(limit, baseline)
    if abnormal is None:
        return _above(measured, limit, _AMINOTRANSFERASE_ULN)
    return _above(measured, abnormal, _AMINOTRANSFERASE_BASELINE)


def _abnormal_baseline(uln: Decimal, baseline: float | None) -> Decimal | None:
    """The baseline if it was abnormal (above the ULN); None when absent or normal."""
    if baseline is None:
        return None
    start = _measured(baseline, "baseline")
    return start if start > uln else None


def _above(value: Decimal, reference: Decimal, multiples: Sequence[Decimal]) -> int:
    return sum(1 for multiple in multiples if value > multiple * reference)


def _below(count: Decimal, lln: Decimal, cuts: Sequence[Decimal]) -> int:
    if count >= lln:
        return 0
    return 1 + sum(1 for cut in cuts if count < cut)


def _measured(value: float, field: str) -> Decimal:
    number = _number(value, field)
    if number < 0:
        raise InvalidInput(f"{field} must not be negative, not {value!r}", field=field)
    return number


def _limit(value: float, field: str) -> Decimal:
    number = _number(value, field)
    if number <= 0:
        raise InvalidInput(f"{field} must be greater than 0, not {value!r}", field=field)
    return number


def _number(value: float, field: str) -> Decimal:
    # bool is an int subclass; True as a lab value is a caller bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number, not {value!r}", field=field)
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, not {value!r}", field=field)
    return Decimal(repr(value))
