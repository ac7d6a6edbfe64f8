"""The interval designs by name, built from their parameters; and their boundaries on the wire."""

from __future__ import annotations

from typing import Literal

from domain.designs.boin import BoinRule, boin_rule
from domain.designs.i3plus3 import i3plus3_rule
from domain.designs.interval_designs import DoseRule, IntervalDesign, boundary_rows
from domain.designs.mtpi2 import mtpi2_rule
from domain.errors import InvalidInput

__all__ = ["INTERVAL_DESIGNS", "IntervalKind", "boundaries", "interval_design"]

IntervalKind = Literal["boin", "i3+3", "mtpi2"]
INTERVAL_DESIGNS: tuple[IntervalKind, ...] = ("boin", "i3+3", "mtpi2")
_OWN_PARAMETERS = {
    "boin": ("phi1", "phi2"),
    "i3+3": ("interval",),
    "mtpi2": ("epsilon1", "epsilon2"),
}


def interval_design(
    kind: str,
    target: float,
    *,
    cohort_size: int = 3,
    max_n: int = 30,
    n_earlystop: int = 100,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    phi1: float | None = None,
    phi2: float | None = None,
    interval: tuple[float, float] | None = None,
    epsilon1: float | None = None,
    epsilon2: float | None = None,
) -> IntervalDesign:
    """Build the named design; a parameter of another design is refused, naming it."""
    given = {
        "phi1": phi1,
        "phi2": phi2,
        "interval": interval,
        "epsilon1": epsilon1,
        "epsilon2": epsilon2,
    }
    if kind not in _OWN_PARAMETERS:
        raise InvalidInput(
            f"design '{kind}' is not one of {', '.join(INTERVAL_DESIGNS)}", field="design"
        )
    for name, value in given.items():
        if value is not None and name not in _OWN_PARAMETERS[kind]:
            raise InvalidInput(f"{name} is not a parameter of the {kind} design", field=name)
    rule: DoseRule
    if kind == "boin":
        rule = boin_rule(target, phi1, phi2)
    elif kind == "i3+3":
        rule = i3plus3_rule(target, interval)
    else:
        rule = mtpi2_rule(
            target,
            0.05 if epsilon1 is None else epsilon1,
            0.05 if epsilon2 is None else epsilon2,
        )
    return IntervalDesign(
        rule,
        cohort_size=cohort_size,
        max_n=max_n,
        n_earlystop=n_earlystop,
        cutoff_eli=cutoff_eli,
        extrasafe=extrasafe,
        offset=offset,
    )


def boundaries(design: IntervalDesign) -> dict[str, object]:
    """The design's decision table: BOIN's λe and λd, or the rule's own parameters, and rows."""
    rows = [row.as_json() for row in boundary_rows(design)]
    if isinstance(design.rule, BoinRule):
        return {"lambda_e": design.rule.lambda_e, "lambda_d": design.rule.lambda_d, "rows": rows}
    return {**design.rule.parameters(), "rows": rows}
