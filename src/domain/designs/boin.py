"""BOIN, the Bayesian optimal interval design (Liu & Yuan 2015), as a pure dose rule.

The escalation and de-escalation boundaries λe and λd minimise the chance of a wrong decision
between the target φ and the rates φ1 (deemed too low, default 0.6φ) and φ2 (too high, default
1.4φ). With ``x`` DLTs in ``n`` patients at the current dose: escalate if x <= floor(λe·n),
de-escalate if x >= λd·n (rounded up, as R ``BOIN::get.boundary`` 2.7 does), otherwise stay.
Elimination, stopping and MTD selection are the shared machinery of
:mod:`domain.designs.interval_designs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidInput

__all__ = ["BoinRule", "boin_rule", "check_target"]

_INTEGER_TOLERANCE = 1e-12  # R get.boundary's `tol`: λd·n that is a whole number counts as one


def check_target(target: float) -> float:
    """Refuse a target DLT rate outside [0.05, 0.6] (the range R ``BOIN`` accepts)."""
    if not 0.05 <= target <= 0.6:
        raise InvalidInput(
            f"target is {target}; a target DLT rate must be between 0.05 and 0.6",
            field="target",
        )
    return float(target)


@dataclass(frozen=True, slots=True)
class BoinRule:
    """BOIN's decision at one dose: compare the observed rate with λe and λd."""

    target: float
    phi1: float
    phi2: float
    kind: Literal["boin"] = "boin"

    @property
    def lambda_e(self) -> float:
        """The escalation boundary λe."""
        phi, phi1 = self.target, self.phi1
        return math.log((1 - phi1) / (1 - phi)) / math.log(phi * (1 - phi1) / (phi1 * (1 - phi)))

    @property
    def lambda_d(self) -> float:
        """The de-escalation boundary λd."""
        phi, phi2 = self.target, self.phi2
        return math.log((1 - phi) / (1 - phi2)) / math.log(phi2 * (1 - phi) / (phi * (1 - phi2)))

    def escalate_at_most(self, patients: int) -> int:
        """Escalate when the DLTs among ``patients`` are at most this."""
        return math.floor(self.lambda_e * patients)

    def deescalate_at_least(self, patients: int) -> int:
        """De-escalate when the DLTs among ``patients`` are at least this."""
        bound = self.lambda_d * patients
        if abs(round(bound) - bound) < _INTEGER_TOLERANCE:
            return round(bound) + 1
        return math.ceil(bound)

    def move(self, patients: int, dlts: int) -> Literal["escalate", "stay", "de-escalate"]:
        """What the boundaries say for ``dlts`` DLTs in ``patients`` at the current dose."""
        if dlts <= self.escalate_at_most(patients):
            return "escalate"
        if dlts >= self.deescalate_at_least(patients):
            return "de-escalate"
        return "stay"

    def parameters(self) -> dict[str, object]:
        """The rule's own parameters, for the wire."""
        return {"phi1": self.phi1, "phi2": self.phi2}


def boin_rule(target: float, phi1: float | None = None, phi2: float | None = None) -> BoinRule:
    """BOIN with φ1 = 0.6φ and φ2 = 1.4φ unless given; refuses what R ``BOIN`` refuses."""
    target = check_target(target)
    phi1 = 0.6 * target if phi1 is None else float(phi1)
    phi2 = 1.4 * target if phi2 is None else float(phi2)
    if not phi1 > 0.0 or target - phi1 < 0.1 * target:
        raise InvalidInput(
            f"phi1 is {phi1}; the rate deemed too low must be above 0 and at most 0.9 × target "
            f"({0.9 * target:g})",
            field="phi1",
        )
    if not phi2 < 1.0 or phi2 - target < 0.1 * target:
        raise InvalidInput(
            f"phi2 is {phi2}; the rate deemed too high must be below 1 and at least 1.1 × target "
            f"({1.1 * target:g})",
            field="phi2",
        )
    return BoinRule(target=target, phi1=phi1, phi2=phi2)
