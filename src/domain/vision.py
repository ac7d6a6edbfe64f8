"""Best-corrected visual acuity (BCVA) in logMAR, with Snellen parsing and formatting.

logMAR is kept to 0.01, the precision of the usual Snellen/logMAR conversion tables: 20/40 is
logMAR 0.3 (not log10(2) = 0.30103), so that "20/40 or better" and "3 lines lost" from 20/20 land
exactly on the CTCAE boundaries instead of a hair beyond them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from domain.errors import InvalidInput

LOGMAR_MIN = -0.3
LOGMAR_MAX = 3.0

_SNELLEN = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_LOGMAR = re.compile(r"(?:logmar\s*:?\s*)?([+-]?(?:\d+(?:\.\d*)?|\.\d+))", re.IGNORECASE)
# Snellen numerators are the test distance: 20 ft or 6 m.
_TEST_DISTANCES = (20.0, 6.0)


@dataclass(frozen=True)
class VisualAcuity:
    """A BCVA measurement in logMAR (0.0 = 20/20; larger is worse; one line = 0.1)."""

    logmar: float

    def __post_init__(self) -> None:
        value = self.logmar
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise InvalidInput(f"logMAR must be a finite number, not {value!r}", field="logmar")
        # "+ 0.0" turns -0.0 into 0.0 so that equal acuities also print alike.
        normalised = round(float(value), 2) + 0.0
        if not LOGMAR_MIN <= normalised <= LOGMAR_MAX:
            raise InvalidInput(
                f"logMAR {value} is outside the chartable range {LOGMAR_MIN} .. {LOGMAR_MAX}",
                field="logmar",
            )
        object.__setattr__(self, "logmar", normalised)

    @property
    def snellen(self) -> str:
        """Canonical Snellen fraction in feet, "20/x"."""
        return f"20/{round(20 * 10**self.logmar)}"

    def lines_lost_from(self, baseline: VisualAcuity) -> float:
        """Lines of acuity lost since ``baseline`` (positive = worse; one line = 0.1 logMAR)."""
        # Subtract whole hundredths so that 0.3 - 0.0 is exactly 3 lines, not 2.9999999999999996.
        return (self._hundredths - baseline._hundredths) / 10

    def is_worse_than(self, other: VisualAcuity) -> bool:
        """True if this acuity is worse (higher logMAR) than ``other``."""
        return self._hundredths > other._hundredths

    @property
    def _hundredths(self) -> int:
        return round(self.logmar * 100)


def parse_bcva(text: str) -> VisualAcuity:
    """Parse "20/40" (feet), "6/12" (metres), "logMAR 0.3" or a bare logMAR such as "-0.1".

    A bare number is always read as logMAR, never as decimal acuity (where 0.5 means 20/40).
    """
    if not isinstance(text, str):
        raise InvalidInput(f"BCVA must be text, not {type(text).__name__}", field="bcva")
    candidate = text.strip()
    snellen = _SNELLEN.fullmatch(candidate)
    if snellen is not None:
        distance, denominator = float(snellen.group(1)), float(snellen.group(2))
        if distance not in _TEST_DISTANCES or denominator <= 0:
            raise InvalidInput(_malformed(text), field="bcva")
        logmar = math.log10(denominator / distance)
    else:
        number = _LOGMAR.fullmatch(candidate)
        if number is None:
            raise InvalidInput(_malformed(text), field="bcva")
        logmar = float(number.group(1))
    if not LOGMAR_MIN <= round(logmar, 2) <= LOGMAR_MAX:
        raise InvalidInput(
            f"BCVA {text!r} is logMAR {logmar:.2f}, outside the chartable range "
            f"{LOGMAR_MIN} .. {LOGMAR_MAX} (20/10 .. 20/20000)",
            field="bcva",
        )
    return VisualAcuity(logmar)


def _malformed(text: str) -> str:
    return (
        f"BCVA {text!r} is not a Snellen fraction 20/x with x > 0, nor a logMAR value "
        "(expected e.g. '20/40', '6/12', 'logMAR 0.3' or '0.3')"
    )
