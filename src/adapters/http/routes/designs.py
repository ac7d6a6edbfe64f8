"""The interval designs' decision tables: the JSON of the CLI's ``design boundaries``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query

from adapters.http.deps import Reader
from adapters.http.design_views import DesignBoundaries
from adapters.http.openapi_parts import ok
from adapters.http.problems import problem_responses
from adapters.http.routers import api_router
from adapters.http.schemas import Problem
from domain.designs.catalogue import boundaries, interval_design
from domain.errors import InvalidInput

ERRORS: dict[int | str, dict[str, Any]] = problem_responses(
    {
        401: {"model": Problem, "description": "No valid API key"},
        422: {"model": Problem, "description": "A bad parameter (the problem names it)"},
    }
)
router = api_router(prefix="/designs", tags=["designs"], responses=ERRORS)

Rate = Annotated[float, Query(gt=0.0, lt=1.0)]


def _interval(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        low, high = (float(part.strip()) for part in parts)
    except ValueError:
        raise InvalidInput(
            f"interval: '{text[:40]}' is not two numbers A,B (e.g. 0.25,0.35)", field="interval"
        ) from None
    return low, high


@router.get(
    "/{name}/boundaries",
    summary="An interval design's decision table",
    response_model=None,
    responses=ok(DesignBoundaries),
)
def get_design_boundaries(
    who: Reader,
    name: Annotated[Literal["boin", "i3+3", "mtpi2"], Path(description="The design")],
    target: Annotated[float, Query(ge=0.05, le=0.6, description="The target DLT rate")],
    cohort_size: Annotated[int | None, Query(ge=1, le=100, description="Default 3")] = None,
    max_n: Annotated[int | None, Query(ge=1, le=1000, description="Default 30")] = None,
    n_earlystop: Annotated[int | None, Query(ge=1, le=1000, description="Default 100")] = None,
    cutoff_eli: Annotated[
        float | None, Query(ge=0.5, lt=1.0, description="Elimination cut-off (default 0.95)")
    ] = None,
    extrasafe: Annotated[bool, Query(description="The stricter rule at the lowest dose")] = False,
    offset: Annotated[float | None, Query(gt=0.0, lt=0.5, description="Default 0.05")] = None,
    phi1: Annotated[float | None, Rate, Query(description="boin: default 0.6 x target")] = None,
    phi2: Annotated[float | None, Rate, Query(description="boin: default 1.4 x target")] = None,
    interval: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=r"^\s*[0-9.eE+-]+\s*,\s*[0-9.eE+-]+\s*$",
            description="i3+3: the equivalence interval A,B (default target-0.05,target+0.05)",
        ),
    ] = None,
    epsilon1: Annotated[float | None, Rate, Query(description="mtpi2: default 0.05")] = None,
    epsilon2: Annotated[float | None, Rate, Query(description="mtpi2: default 0.05")] = None,
) -> Any:
    """The escalation, de-escalation and elimination boundaries per number of patients: BOIN's
    λe and λd (i3+3 and mTPI-2: their own parameters) and the rows, exactly as
    `doseledger design boundaries` prints them for the same parameters."""
    given: dict[str, Any] = {
        "cohort_size": cohort_size,
        "max_n": max_n,
        "n_earlystop": n_earlystop,
        "cutoff_eli": cutoff_eli,
        "offset": offset,
        "phi1": phi1,
        "phi2": phi2,
        "interval": None if interval is None else _interval(interval),
        "epsilon1": epsilon1,
        "epsilon2": epsilon2,
    }
    design = interval_design(
        name,
        target,
        extrasafe=extrasafe,
        **{key: value for key, value in given.items() if value is not None},
    )
    return boundaries(design)
