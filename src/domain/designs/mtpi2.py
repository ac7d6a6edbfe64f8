"""mTPI-2 (Guo et al. 2017) as a pure dose rule.

The DLT probability's range [0, 1] is cut into the equivalence interval [φ - ε1, φ + ε2] and,
on either side, intervals of the same width (the last ones cut short at 0 and 1). With a
Beta(1, 1) prior and ``x`` DLTs in ``n`` patients, each interval's unit probability mass (its
posterior probability divided by its width) is computed; the interval with the largest says
escalate (below), stay (the equivalence interval) or de-escalate (above). Ties go to the lower
decision, as in R ``escalation::get_mtpi2``. Elimination, stopping and MTD selection are the
shared machinery of :mod:`domain.designs.interval_designs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.designs.boin import check_target
from domain.designs.posterior import beta_cdf
from domain.errors import InvalidInput

__all__ = ["Mtpi2Rule", "mtpi2_rule"]

_EDGE = 1e-9  # an interval edge this close to 0 or 1 is that end (float steps of the width)

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Mtpi2Rule:
    """mTPI-2's decision at one dose: the interval of largest unit probability mass."""

    target: float
    epsilon1: float
    epsilon2: float
    kind: Literal["mtpi2"] = "mtpi2"

    def intervals(
        self,
    ) -> tuple[list[tuple[float, float]], tuple[float, float], list[tuple[float, float]]]:
        """The underdosing intervals, the equivalence interval and the overdosing intervals."""
        lower = max(self.target - self.epsilon1, 0.0)
        upper = min(self.target + self.epsilon2, 1.0)
        width = self.epsilon1 + self.epsilon2
        below: list[Interval] = []
        step = 0
        while lower - step * width > _EDGE:
            top = lower - step * width
            below.append((max(top - width, 0.0), top))
            step += 1
        above: list[Interval] = []
        step = 0
        while upper + step * width < 1.0 - _EDGE:
            bottom = upper + step * width
            above.append((bottom, min(bottom + width, 1.0)))
            step += 1
        return below, (lower, upper), above

    def _unit_mass(self, patients: int, dlts: int, interval: Interval) -> float:
        lo, hi = interval
        a, b = 1 + dlts, 1 + patients - dlts
        return (beta_cdf(hi, a, b) - beta_cdf(lo, a, b)) / (hi - lo)

    def move(self, patients: int, dlts: int) -> Literal["escalate", "stay", "de-escalate"]:
        """What the unit probability masses say for ``dlts`` DLTs in ``patients``."""
        below, equivalence, above = self.intervals()
        under = max((self._unit_mass(patients, dlts, i) for i in below), default=0.0)
        equal = self._unit_mass(patients, dlts, equivalence)
        over = max((self._unit_mass(patients, dlts, i) for i in above), default=0.0)
        best = max(under, equal, over)
        if under == best:
            return "escalate"
        if equal == best:
            return "stay"
        return "de-escalate"

    def parameters(self) -> dict[str, object]:
        """The rule's own parameters, for the wire."""
        return {"epsilon1": self.epsilon1, "epsilon2": self.epsilon2}


def mtpi2_rule(target: float, epsilon1: float = 0.05, epsilon2: float = 0.05) -> Mtpi2Rule:
    """mTPI-2 with ε1 = ε2 = 0.05 unless given (Guo et al. 2017's choice)."""
    target = check_target(target)
    for name, value in (("epsilon1", epsilon1), ("epsilon2", epsilon2)):
        if not 0.0 < value < target:
            raise InvalidInput(
                f"{name} is {value}; an interval half-width must be above 0 and below the "
                f"target ({target:g})",
                field=name,
            )
    if target + epsilon2 >= 1.0:
        raise InvalidInput(
            f"epsilon2 is {epsilon2}; target + epsilon2 must stay below 1", field="epsilon2"
        )
    return Mtpi2Rule(target=target, epsilon1=float(epsilon1), epsilon2=float(epsilon2))
