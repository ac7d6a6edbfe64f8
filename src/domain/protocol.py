"""A trial protocol as a validated value object: agents, dose levels, reduction ladders, design."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.dlt_policy import DltCriteria
from domain.errors import InvalidInput, NotFound
from domain.rule_set_model import RULE_SET_IDS, RuleSet, rule_set_from_mapping
from domain.site_time import is_time_zone

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Name = Annotated[str, Field(min_length=1, max_length=120)]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> _Value:
        # Frozen values are shared, not copied (aggregates are deep-copied from the cache).
        return self


class Agent(_Value):
    """A drug given in the study."""

    name: Name
    route: Literal["oral", "intravenous", "subcutaneous"] = "oral"
    investigational: bool = True


class AgentDose(_Value):
    """One agent's dose: amount, unit and frequency (e.g. defactinib 200 mg BID)."""

    agent: Name
    amount: Annotated[float, Field(gt=0)]
    unit: Literal["mg", "mg/m2", "mg/kg", "AUC"]
    frequency: Annotated[str, Field(min_length=1, max_length=60)]

    @property
    def label(self) -> str:
        """Human-readable dose, e.g. 'defactinib 200 mg BID'."""
        amount = f"{self.amount:g}"
        return f"{self.agent} {amount} {self.unit} {self.frequency}"

    def same_regimen_as(self, other: AgentDose) -> bool:
        """True when both doses are the same step (agent, amount, unit, frequency)."""
        return self == other


class DoseLevel(_Value):
    """A named, ordered combination of doses, one per agent."""

    level: Annotated[int, Field(ge=1)]
    doses: Annotated[tuple[AgentDose, ...], Field(min_length=1)]
    note: str | None = None

    @property
    def label(self) -> str:
        """Human-readable level, e.g. 'DL1: defactinib 200 mg BID + avutometinib 3.2 mg ...'."""
        return f"DL{self.level}: " + " + ".join(d.label for d in self.doses)

    def dose_of(self, agent: str) -> AgentDose:
        """This level's dose of one agent."""
        for dose in self.doses:
            if dose.agent == agent:
                return dose
        raise NotFound(f"dose level {self.level} has no dose of {agent}", kind="agent", ident=agent)


class Schedule(_Value):
    """Cycle length and on/off pattern (3 weeks on / 1 week off, or continuous)."""

    cycle_length_days: Annotated[int, Field(ge=1, le=365)]
    days_on: Annotated[int, Field(ge=1, le=365)]
    days_off: Annotated[int, Field(ge=0, le=365)] = 0

    @model_validator(mode="after")
    def _on_plus_off_is_cycle(self) -> Schedule:
        if self.days_on + self.days_off != self.cycle_length_days:
            raise ValueError(
                f"days_on ({self.days_on}) + days_off ({self.days_off}) must equal "
                f"cycle_length_days ({self.cycle_length_days})"
            )
        return self

    @property
    def continuous(self) -> bool:
        """True when dosing has no off days."""
        return self.days_off == 0


class Design(_Value):
    """The dose-escalation design; only 3+3 is supported."""

    kind: Literal["3+3"] = "3+3"
    deescalate: bool = True
    cohort_size: Literal[3] = 3
    max_patients_per_level: Literal[6] = 6
    starting_level: Annotated[int, Field(ge=1)] = 1


class Protocol(_Value):
    """A dose-escalation protocol: what is given, how it escalates and how doses are reduced."""

    id: Slug
    title: Name
    version: Annotated[str, Field(min_length=1, max_length=20)] = "1.0"
    agents: Annotated[tuple[Agent, ...], Field(min_length=1)]
    dose_levels: Annotated[tuple[DoseLevel, ...], Field(min_length=1)]
    reduction_ladders: dict[str, Annotated[tuple[AgentDose, ...], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    ladder_exhausted: Literal["discontinue_all_agents", "discontinue_agent"] = "discontinue_agent"
    schedule: Schedule
    dlt_window_days: Annotated[int, Field(ge=1, le=365)]
    evaluability_min_dose_fraction: Annotated[float, Field(gt=0, le=1)] = 0.75
    dlt_criteria: DltCriteria = DltCriteria()
    design: Design = Design()
    # None: no automatic dose recommendations (domain.rules.recommend_dose refuses).
    rule_set: Slug | None = None
    # A sponsor's own rule set, stored with the protocol so that events replay against it.
    custom_rule_set: RuleSet | None = None
    # The IANA time zone of a site whose enrolment names none (domain.md §7a).
    default_site_time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    # **Protocol default** (§7a): a follow-up eye exam counts for cycle k when dated within
    # this many days either side of the last day of cycle k.
    eye_exam_window_days: Annotated[int, Field(ge=0, le=60)] = 7

    @field_validator("default_site_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)")
        return value

    @field_validator("custom_rule_set", mode="before")
    @classmethod
    def _rule_set_from_data(cls, value: Any) -> Any:
        # Validated here so that the error names the rule at fault, not just a field path.
        if isinstance(value, Mapping):
            try:
                return rule_set_from_mapping(value)
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        agents = [a.name for a in self.agents]
        if len(set(agents)) != len(agents):
            raise ValueError("agents: each agent must be named once")
        for i, level in enumerate(self.dose_levels):
            if level.level != i + 1:
                raise ValueError(
                    f"dose_levels.{i}.level: levels must be numbered 1, 2, 3, ... in order; "
                    f"found {level.level} at position {i + 1}"
                )
            dosed = [d.agent for d in level.doses]
            if sorted(dosed) != sorted(agents):
                raise ValueError(
                    f"dose_levels.{i}.doses: need exactly one dose per agent "
                    f"({', '.join(agents)}); got {', '.join(dosed)}"
                )
        for agent, ladder in self.reduction_ladders.items():
            if agent not in agents:
                raise ValueError(f"reduction_ladders.{agent}: not one of the agents")
            for j, step in enumerate(ladder):
                if step.agent != agent:
                    raise ValueError(
                        f"reduction_ladders.{agent}.{j}: step is for {step.agent}, not {agent}"
                    )
            for i, level in enumerate(self.dose_levels):
                if level.dose_of(agent) not in ladder:
                    raise ValueError(
                        f"dose_levels.{i}: the {agent} dose of DL{level.level} "
                        f"({level.dose_of(agent).label}) is not a step of its reduction ladder"
                    )
        if self.design.starting_level > len(self.dose_levels):
            raise ValueError(
                f"design.starting_level: {self.design.starting_level} is above the highest "
                f"dose level ({len(self.dose_levels)})"
            )
        self._check_rule_set()
        return self

    def _check_rule_set(self) -> None:
        custom = self.custom_rule_set
        if custom is not None:
            if custom.id in RULE_SET_IDS:
                raise ValueError(
                    f"custom_rule_set.id: {custom.id} is a shipped rule set; "
                    "give the custom set an id of its own"
                )
            if self.rule_set != custom.id:
                raise ValueError(
                    f"rule_set: must name the custom rule set ({custom.id}), not {self.rule_set}"
                )
        elif self.rule_set is not None and self.rule_set not in RULE_SET_IDS:
            raise ValueError(
                f"rule_set: no shipped rule set '{self.rule_set}' (shipped: "
                f"{', '.join(RULE_SET_IDS)}); give custom_rule_set for a rule set of your own"
            )

    @property
    def num_levels(self) -> int:
        """How many dose levels the protocol defines."""
        return len(self.dose_levels)

    def dose_level(self, level: int) -> DoseLevel:
        """The dose level numbered ``level`` (1-based)."""
        if not 1 <= level <= self.num_levels:
            raise NotFound(
                f"protocol {self.id} has no dose level {level} (levels 1-{self.num_levels})",
                kind="dose_level",
                ident=str(level),
            )
        return self.dose_levels[level - 1]


def protocol_from_mapping(data: Mapping[str, Any], *, source: str = "protocol") -> Protocol:
    """Validate a protocol given as plain data; errors name the field at fault."""
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"{source}: {where}: {message}{more}", field=where) from None


def load_protocol_file(path: str | Path) -> Protocol:
    """Load a custom protocol from a JSON or YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"protocol file {path}: {exc.strerror}", field="file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0]
        raise InvalidInput(f"protocol file {path}: not valid JSON/YAML: {first_line}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"protocol file {path}: expected a mapping at the top level")
    return protocol_from_mapping(data, source=f"protocol file {path}")


TEMPLATE_IDS = (
    "defactinib-avutometinib",
    "defactinib-pembrolizumab-gemcitabine",
    "defactinib-paclitaxel",
)


def template(template_id: str) -> Protocol:
    """One of the shipped protocol templates, by id."""
    if template_id not in TEMPLATE_IDS:
        raise NotFound(
            f"no protocol template '{template_id}'; templates: {', '.join(TEMPLATE_IDS)}",
            kind="template",
            ident=template_id,
        )
    text = resources.files("domain.data.protocols").joinpath(f"{template_id}.json").read_text()
    return protocol_from_mapping(json.loads(text), source=f"template {template_id}")
