"""The answer of ``GET /designs/{name}/boundaries``: an interval design's decision table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

BOUNDARIES_EXAMPLE = {
    "lambda_e": 0.2364,
    "lambda_d": 0.3585,
    "rows": [{"n": 3, "escalate_at_most": 0, "deescalate_at_least": 2, "eliminate_at_least": 3}],
}


class BoundaryRow(BaseModel):
    """The DLT counts at which each decision starts, with ``n`` patients at the dose."""

    n: int
    escalate_at_most: int | None
    deescalate_at_least: int | None
    eliminate_at_least: int | None


class DesignBoundaries(BaseModel):
    """An interval design's decision table (BOIN: λe and λd; i3+3: its interval; mTPI-2:
    ε1 and ε2), as the CLI's ``design boundaries`` prints it."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [BOUNDARIES_EXAMPLE]})
    lambda_e: float | None = Field(None, description="boin: the escalation boundary")
    lambda_d: float | None = Field(None, description="boin: the de-escalation boundary")
    interval: list[float] | None = Field(None, description="i3+3: the equivalence interval")
    epsilon1: float | None = Field(None, description="mtpi2: the interval below the target")
    epsilon2: float | None = Field(None, description="mtpi2: the interval above the target")
    rows: list[BoundaryRow]
