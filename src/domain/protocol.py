"""A trial protocol as a validated value object: agents, dose levels, reduction ladders, design."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from fractions import Fraction
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

from domain.ctcae import CtcaeCatalogue
from domain.dlt_policy import DltCriteria
from domain.errors import InvalidInput, NotFound
from domain.grading import V4_GRADED_TERMS, CtcaeVersion
from domain.protocol_design import (
    DESIGN_KINDS,
    DesignSpec,
    ThreePlusThree,
    with_default_kind,
)
from domain.rule_set_model import RULE_SET_IDS, RuleSet, rule_set_from_mapping
from domain.site_time import is_time_zone
from domain.strict_input import plain_text_problem

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
_DEFAULT_CTCAE_VERSION: CtcaeVersion = "5.0"  # the catalogue's version (domain.ctcae)
Name = Annotated[str, Field(min_length=1, max_length=120)]
NOTE_MAX = 2000
"""The longest string of a new protocol (a dose level's note, a rule's text)."""
KEY_MAX = 200
"""The longest key of a new protocol's mappings (an agent in reduction_ladders, a CTCAE term)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> _Value:
        # Frozen values are shared, not copied (aggregates are deep-copied from the cache).
        return self


class Agent(_Value):
    """A drug given in the study."""

    name: Name
    route: Literal["oral", "intravenous", "subcutaneous"] = "oral"
    investigational: Annotated[bool, Field(strict=True)] = True


class AgentDose(_Value):
    """One agent's dose: amount, unit and frequency (e.g. defactinib 200 mg BID)."""

    agent: Name
    amount: Annotated[float, Field(gt=0, strict=True)]
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


DOSES_PER_DAY: Mapping[str, Fraction] = {
    "qd": Fraction(1),
    "once daily": Fraction(1),
    "daily": Fraction(1),
    "bid": Fraction(2),
    "twice daily": Fraction(2),
    "tid": Fraction(3),
    "three times daily": Fraction(3),
    "qid": Fraction(4),
    "four times daily": Fraction(4),
    "weekly": Fraction(1, 7),
    "once weekly": Fraction(1, 7),
    "twice weekly": Fraction(2, 7),
    "three times weekly": Fraction(3, 7),
}
"""Frequencies whose doses per day are known (case-insensitive), for comparing doses."""


def compare_doses(first: AgentDose, second: AgentDose) -> int | None:
    """-1, 0 or 1 as ``first`` is less than, as much as or more than ``second``; None if unknown.

    The rule: doses of one agent compare only within the same unit. With the same frequency
    (case-insensitive) the amounts compare. With different frequencies both must be in
    :data:`DOSES_PER_DAY` (QD = 1, BID = 2, TID = 3, QID = 4 a day; weekly = 1/7, twice weekly =
    2/7, three times weekly = 3/7) and the daily totals compare (amount x doses per day, so 200 mg
    BID is more than 200 mg QD and as much as 400 mg QD). Any other pair (another unit, or a
    schedule such as "days 1 and 8" against another schedule) cannot be compared: None.
    """
    if first.unit != second.unit:
        return None
    freq_a, freq_b = first.frequency.strip().casefold(), second.frequency.strip().casefold()
    if freq_a == freq_b:
        a, b = Fraction(first.amount), Fraction(second.amount)
    elif freq_a in DOSES_PER_DAY and freq_b in DOSES_PER_DAY:
        a = Fraction(first.amount) * DOSES_PER_DAY[freq_a]
        b = Fraction(second.amount) * DOSES_PER_DAY[freq_b]
    else:
        return None
    return (a > b) - (a < b)


def _amount(dose: AgentDose, other: AgentDose) -> str:
    # "1000 mg/m2" when both doses share a frequency, else "200 mg QD".
    text = f"{dose.amount:g} {dose.unit}"
    if dose.frequency.strip().casefold() != other.frequency.strip().casefold():
        text += f" {dose.frequency}"
    return text


def _dose_text(dose: AgentDose) -> str:
    return f"{dose.amount:g} {dose.unit} {dose.frequency}"


_COMPARABLE = (
    "doses compare within one unit, at the same frequency, or as daily totals when both "
    "frequencies are among: " + ", ".join(f.upper() if len(f) <= 3 else f for f in DOSES_PER_DAY)
)


class DoseLevel(_Value):
    """A named, ordered combination of doses, one per agent."""

    level: Annotated[int, Field(ge=1, strict=True)]
    doses: Annotated[tuple[AgentDose, ...], Field(min_length=1)]
    # New protocols: at most NOTE_MAX characters (protocol_from_mapping); stored ones replay as is.
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

    cycle_length_days: Annotated[int, Field(ge=1, le=365, strict=True)]
    days_on: Annotated[int, Field(ge=1, le=365, strict=True)]
    days_off: Annotated[int, Field(ge=0, le=365, strict=True)] = 0

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
    dlt_window_days: Annotated[int, Field(ge=1, le=365, strict=True)]
    evaluability_min_dose_fraction: Annotated[float, Field(gt=0, le=1, strict=True)] = 0.75
    dlt_criteria: DltCriteria = DltCriteria()
    # 3+3 (the default, and every protocol stored without a kind), boin, i3+3 or mtpi2.
    design: DesignSpec = ThreePlusThree()
    # None: no automatic dose recommendations (domain.rules.recommend_dose refuses).
    rule_set: Slug | None = None
    # A sponsor's own rule set, stored with the protocol so that events replay against it.
    custom_rule_set: RuleSet | None = None
    # The CTCAE version that grades a term, by CTCAE term; a term not listed is graded under v5.0.
    ctcae_versions: dict[str, CtcaeVersion] = Field(default_factory=dict)

    @field_validator("ctcae_versions")
    @classmethod
    def _pinned_terms(cls, pinned: dict[str, CtcaeVersion]) -> dict[str, CtcaeVersion]:
        # Keys become CTCAE's own spelling, so that look-ups by any case or MedDRA code agree.
        catalogue = CtcaeCatalogue.load()
        canonical: dict[str, CtcaeVersion] = {}
        for term, version in pinned.items():
            try:
                found = catalogue.lookup(term).term
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
            if found in canonical:
                raise ValueError(f"{found} is pinned twice")
            if version == "4.0" and found not in V4_GRADED_TERMS:
                raise ValueError(
                    f"{found} cannot be pinned to CTCAE v4.0: the system has v4.0 criteria only "
                    f"for {', '.join(V4_GRADED_TERMS)}"
                )
            canonical[found] = version
        return canonical

    # The IANA time zone of a site whose enrolment names none (domain.md §7a).
    default_site_time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    # **Protocol default** (§7a): a follow-up eye exam counts for cycle k when dated within
    # this many days either side of the last day of cycle k.
    eye_exam_window_days: Annotated[int, Field(ge=0, le=60, strict=True)] = 7

    @field_validator("default_site_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)")
        return value

    @field_validator("design", mode="before")
    @classmethod
    def _design_kind(cls, value: Any) -> Any:
        return with_default_kind(value)

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

    def check_ordered(self) -> None:
        """Refuse dose levels that are not ordered and reduction ladders that do not go down.

        From one level to the next no agent's dose may go down and at least one must go up;
        each ladder step must be lower than the one before (doses compared by
        :func:`compare_doses`; a pair it cannot compare is refused too). Checked when a protocol
        is loaded or a trial registered, not on every validation, so that a protocol stored
        before this rule still loads when its trial replays.
        """
        for i in range(1, self.num_levels):
            before, after = self.dose_levels[i - 1], self.dose_levels[i]
            went_up = False
            for agent in (a.name for a in self.agents):
                old, new = before.dose_of(agent), after.dose_of(agent)
                order = compare_doses(old, new)
                if order is None:
                    raise InvalidInput(
                        f"dose_levels.{i}: cannot compare the {agent} doses of "
                        f"DL{before.level} ({_dose_text(old)}) and DL{after.level} "
                        f"({_dose_text(new)}); {_COMPARABLE}",
                        field=f"dose_levels.{i}",
                    )
                if order > 0:
                    raise InvalidInput(
                        f"dose_levels.{i}: {agent} goes down from DL{before.level} "
                        f"({_amount(old, new)}) to DL{after.level} ({_amount(new, old)})",
                        field=f"dose_levels.{i}",
                    )
                went_up = went_up or order < 0
            if not went_up:
                raise InvalidInput(
                    f"dose_levels.{i}: DL{after.level} raises no agent's dose above "
                    f"DL{before.level}; each level must raise at least one",
                    field=f"dose_levels.{i}",
                )
        for agent, ladder in self.reduction_ladders.items():
            for j in range(1, len(ladder)):
                order = compare_doses(ladder[j - 1], ladder[j])
                if order is None or order <= 0:
                    why = _COMPARABLE if order is None else "each step must be lower"
                    raise InvalidInput(
                        f"reduction_ladders.{agent}.{j}: {ladder[j].label} does not go down "
                        f"from {ladder[j - 1].label}; {why}",
                        field=f"reduction_ladders.{agent}.{j}",
                    )

    def ctcae_version(self, term: str) -> CtcaeVersion:
        """The CTCAE version that grades ``term`` (a term or MedDRA code) under this protocol."""
        found = CtcaeCatalogue.load().lookup(term).term
        return self.ctcae_versions.get(found, _DEFAULT_CTCAE_VERSION)

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


def _text_problem(value: Any, where: str) -> tuple[str, str] | None:
    """The first string of a new protocol that is too long or holds control characters."""
    if isinstance(value, str):
        if len(value) > NOTE_MAX:
            return where, f"{len(value)} characters; at most {NOTE_MAX} are accepted"
        problem = plain_text_problem(value)
        return (where, problem) if problem else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (len(key) > KEY_MAX or plain_text_problem(key)):
                why = plain_text_problem(key) or f"at most {KEY_MAX} characters are accepted"
                return where or "(top level)", f"key {key[:40]!r}: {why}"
            found = _text_problem(item, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _text_problem(item, f"{where}.{i}")
            if found:
                return found
    return None


_NAMED = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.DOTALL)


def _located(loc: tuple[int | str, ...], kind: str, msg: str) -> tuple[str, str]:
    """Where an error is (a field path) and what it says, for a one-line message.

    The design's kind, which pydantic puts in the path of a design's field, is not part of
    it (``design.target``, not ``design.boin.target``); a bad or missing kind is at
    ``design.kind``; a model check that names its field ("max_n: ...") is placed at it.
    """
    parts = [str(p) for p in loc]
    if parts[:1] == ["design"] and len(parts) > 1 and parts[1] in DESIGN_KINDS:
        if kind == "extra_forbidden":
            msg = f"not a parameter of the {parts[1]} design"
        del parts[1]
    if parts == ["design"] and kind.startswith("union_tag"):
        parts.append("kind")
        msg = f"must be one of {', '.join(DESIGN_KINDS)}"
    message = msg.removeprefix("Value error, ")
    named = _NAMED.match(message)
    if named:
        parts.append(named.group(1))
        message = named.group(2)
    return ".".join(parts) or "(top level)", message


def protocol_from_mapping(data: Mapping[str, Any], *, source: str = "protocol") -> Protocol:
    """Validate a new protocol given as plain data (ordered levels too); errors name the field.

    Beyond the model: every string at most NOTE_MAX characters and every key at most KEY_MAX,
    none with control characters (checked here, not in the model, so that a protocol stored
    before these limits still replays).
    """
    found = _text_problem(data, "")
    if found:
        where, why = found
        raise InvalidInput(f"{source}: {where}: {why}", field=where)
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where, message = _located(first["loc"], first["type"], first["msg"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidInput(f"{source}: {where}: {message}{more}", field=where) from None
    try:
        protocol.check_ordered()
    except InvalidInput as exc:
        raise InvalidInput(f"{source}: {exc.message}", field=exc.field) from None
    return protocol


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
    "defactinib-avutometinib-boin",
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
