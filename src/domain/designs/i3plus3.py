"""The i3+3 design (Liu, Wang & Ji 2020) as a pure dose rule.

With an equivalence interval [a, b] around the target and ``x`` DLTs in ``n`` patients at the
current dose: escalate if x/n < a; stay if a <= x/n <= b; above b, stay if (x - 1)/n < a (one
DLT fewer would have escalated: the data are too thin to go down), otherwise de-escalate.
Elimination, stopping and MTD selection are the shared machinery of
:mod:`domain.designs.interval_designs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.designs.boin import check_target
from domain.errors import InvalidInput

__all__ = ["I3Plus3Rule", "i3plus3_rule"]


@dataclass(frozen=True, slots=True)
class I3Plus3Rule:
    """i3+3's decision at one dose: where the observed rate falls against the interval."""

    target: float
    lower: float
    upper: float
    kind: Literal["i3+3"] = "i3+3"

    def move(self, patients: int, dlts: int) -> Literal["escalate", "stay", "de-escalate"]:
        """What the interval says for ``dlts`` DLTs in ``patients`` at the current dose."""
        rate = dlts / patients
        if rate < self.lower:
            return "escalate"
        if rate <= self.upper:
            return "stay"
        if (dlts - 1) / patients < self.lower:
            return "stay"
        return "de-escalate"

    def parameters(self) -> dict[str, object]:
        """The rule's own parameters, for the wire."""
        return {"interval": [self.lower, self.upper]}


def i3plus3_rule(target: float, interval: tuple[float, float] | None = None) -> I3Plus3Rule:
    """i3+3 with the interval [target - 0.05, target + 0.05] unless given."""
    target = check_target(target)
    lower, upper = (target - 0.05, target + 0.05) if interval is None else interval
    # The checks of the i3+3 authors' own software (R package FIND): the interval holds the
    # target, and neither end is within 10% of it.
    if not 0.0 <= lower < target or target - lower < 0.1 * target:
        raise InvalidInput(
            f"interval: lower end {lower} must be at least 0 and at most 0.9 × target "
            f"({0.9 * target:g})",
            field="interval",
        )
    if not target < upper <= 1.0 or upper - target < 0.1 * target:
        raise InvalidInput(
            f"interval: upper end {upper} must be at most 1 and at least 1.1 × target "
            f"({1.1 * target:g})",
            field="interval",
        )
    return I3Plus3Rule(target=target, lower=float(lower), upper=float(upper))
