"""A protocol's dose-escalation design: the 3+3 or an interval design (BOIN, i3+3, mTPI-2).

``design`` in a protocol is one of these, told apart by ``kind``; a protocol stored without a
``kind`` (or without a ``design``) is a 3+3 one, exactly as before the interval designs. The
interval designs carry the parameters of their engines (``domain.designs``), checked by
building the engine, so that a protocol that validates always runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from domain.designs.catalogue import interval_design
from domain.designs.interval_designs import IntervalDesign
from domain.errors import InvalidInput

__all__ = [
    "DESIGN_KINDS",
    "BoinDesign",
    "Design",
    "DesignSpec",
    "I3Plus3Design",
    "IntervalSpec",
    "Mtpi2Design",
    "ThreePlusThree",
    "design_from_data",
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> _Value:
        # Frozen values are shared, not copied (aggregates are deep-copied from the cache).
        return self


StartingLevel = Annotated[
    int, Field(ge=1, strict=True, description="The dose level of the first cohort")
]


class ThreePlusThree(_Value):
    """The 3+3 design, with Korn et al.'s de-escalation (``deescalate``) or without."""

    kind: Literal["3+3"] = "3+3"
    deescalate: Annotated[bool, Field(strict=True)] = True
    cohort_size: Literal[3] = 3
    max_patients_per_level: Literal[6] = 6
    starting_level: StartingLevel = 1

    @property
    def is_interval(self) -> bool:
        """False: the 3+3 is not an interval design."""
        return False


Design = ThreePlusThree
"""The name the 3+3 design had when it was the only one."""


class _IntervalDesignBase(_Value):
    """What BOIN, i3+3 and mTPI-2 share (R ``BOIN`` 2.7's defaults)."""

    kind: str  # each design narrows it to its own name
    target: Annotated[float, Field(ge=0.05, le=0.6, strict=True, description="The target DLT rate")]
    cohort_size: Annotated[int, Field(ge=1, le=12, strict=True)] = 3
    max_n: Annotated[
        int,
        Field(
            ge=1,
            le=300,
            strict=True,
            description="The maximum sample size (a whole number of cohorts): the trial stops "
            "and selects the MTD when it is reached",
        ),
    ] = 30
    n_earlystop: Annotated[
        int,
        Field(
            ge=1,
            le=300,
            strict=True,
            description="Stop when the decision is to stay at a dose that already has this "
            "many patients",
        ),
    ] = 100
    cutoff_eli: Annotated[
        float,
        Field(
            ge=0.5,
            lt=1.0,
            strict=True,
            description="Eliminate a dose (and those above) when P(DLT rate > target) exceeds "
            "this, with at least 3 patients",
        ),
    ] = 0.95
    extrasafe: Annotated[
        bool,
        Field(
            strict=True,
            description="Also stop when the lowest dose passes cutoff_eli - offset",
        ),
    ] = False
    offset: Annotated[float, Field(gt=0.0, lt=0.5, strict=True)] = 0.05
    starting_level: StartingLevel = 1

    @property
    def is_interval(self) -> bool:
        """True: an interval design, run by :mod:`domain.designs.interval_designs`."""
        return True

    def _own(self) -> dict[str, Any]:
        return {}

    def engine(self) -> IntervalDesign:
        """The pure engine these parameters describe."""
        return _engine(self)

    @model_validator(mode="after")
    def _engine_accepts(self) -> _IntervalDesignBase:
        try:
            self.engine()
        except InvalidInput as exc:
            # "field: why": protocol_from_mapping reads the field and names it design.field.
            raise ValueError(f"{exc.field}: {exc.message}") from None
        return self


class BoinDesign(_IntervalDesignBase):
    """BOIN (Liu & Yuan 2015): escalate at or below λe·n DLTs, de-escalate at or above λd·n."""

    kind: Literal["boin"]
    phi1: Annotated[
        float | None, Field(strict=True, description="Rate deemed too low (default 0.6 x target)")
    ] = None
    phi2: Annotated[
        float | None,
        Field(strict=True, description="Rate deemed too high (default 1.4 x target)"),
    ] = None

    def _own(self) -> dict[str, Any]:
        return {"phi1": self.phi1, "phi2": self.phi2}


class I3Plus3Design(_IntervalDesignBase):
    """i3+3 (Liu, Wang & Ji 2020): the observed rate against an equivalence interval."""

    kind: Literal["i3+3"]
    interval: Annotated[
        tuple[
            Annotated[float, Field(ge=0.0, le=1.0)],
            Annotated[float, Field(ge=0.0, le=1.0)],
        ]
        | None,
        Field(description="The equivalence interval [a, b] (default target ± 0.05)"),
    ] = None

    def _own(self) -> dict[str, Any]:
        return {"interval": self.interval}


class Mtpi2Design(_IntervalDesignBase):
    """mTPI-2 (Guo et al. 2017): the interval of largest unit probability mass."""

    kind: Literal["mtpi2"]
    epsilon1: Annotated[
        float, Field(gt=0.0, lt=0.6, strict=True, description="Equivalence interval below")
    ] = 0.05
    epsilon2: Annotated[
        float, Field(gt=0.0, lt=0.6, strict=True, description="Equivalence interval above")
    ] = 0.05

    def _own(self) -> dict[str, Any]:
        return {"epsilon1": self.epsilon1, "epsilon2": self.epsilon2}


IntervalSpec = BoinDesign | I3Plus3Design | Mtpi2Design
DesignSpec = Annotated[
    ThreePlusThree | BoinDesign | I3Plus3Design | Mtpi2Design, Field(discriminator="kind")
]
"""A protocol's design, by ``kind``: ``3+3``, ``boin``, ``i3+3`` or ``mtpi2``."""
DESIGN_KINDS = ("3+3", "boin", "i3+3", "mtpi2")


@lru_cache(maxsize=256)
def _engine(spec: _IntervalDesignBase) -> IntervalDesign:
    own = {name: value for name, value in spec._own().items() if value is not None}
    return interval_design(
        spec.kind,
        spec.target,
        cohort_size=spec.cohort_size,
        max_n=spec.max_n,
        n_earlystop=spec.n_earlystop,
        cutoff_eli=spec.cutoff_eli,
        extrasafe=spec.extrasafe,
        offset=spec.offset,
        **own,
    )


def with_default_kind(value: Any) -> Any:
    """A design given without ``kind`` is a 3+3 (every protocol before the interval designs)."""
    if isinstance(value, dict) and "kind" not in value:
        return {"kind": "3+3", **value}
    return value


_ADAPTER: TypeAdapter[ThreePlusThree | BoinDesign | I3Plus3Design | Mtpi2Design] = TypeAdapter(
    DesignSpec
)


def design_from_data(data: dict[str, Any]) -> ThreePlusThree | IntervalSpec:
    """A design from its recorded form (a read model's copy of a registered protocol's)."""
    return _ADAPTER.validate_python(with_default_kind(data))
