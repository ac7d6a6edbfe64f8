"""Dose-modification rule sets as validated data (domain.md §5), and their evaluation.

A rule set is an ordered list of rules; the first rule that matches an adverse event fires.
This module knows nothing of protocols, so that ``domain.protocol`` can hold a custom rule set
and ``domain.rules`` can apply a protocol's set without a circular import.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.ctcae import CTCAE_VERSION, CtcaeCatalogue
from domain.errors import InvalidInput, NotFound
from domain.grading import grade_blurred_vision
from domain.vision import VisualAcuity

Action = Literal["continue", "reduce", "withhold", "discontinue"]
Resume = Literal["same", "reduced"]
RecommendedAction = Literal["continue", "reduce", "withhold", "discontinue", "resume"]
"""A recommendation's action: a rule's, or ``resume`` when every withhold condition is met."""
Category = Literal["haematological", "non_haematological", "any"]
BcvaCategory = Literal["not_worse", "worse", "20/200_or_worse"]
Trigger = Literal["adverse_event", "recovery_deadline_passed"]

RULE_SET_IDS = ("avutometinib-combination", "defactinib-400-bid")
"""The rule sets shipped as package data (``domain/data/rule_sets/<id>.json``)."""

_LOGMAR_20_200 = 1.0
_BLURRED_VISION = "blurred vision"

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Text = Annotated[str, Field(min_length=1, max_length=400)]
Grade = Annotated[int, Field(ge=1, le=5, strict=True)]


def bcva_category(bcva: VisualAcuity, baseline: VisualAcuity) -> BcvaCategory:
    """Where a BCVA stands against the baseline: not worse, worse, or 20/200 or worse."""
    if not bcva.is_worse_than(baseline):
        return "not_worse"
    if bcva.logmar >= _LOGMAR_20_200:
        return "20/200_or_worse"
    return "worse"


def _whole(value: object) -> bool:
    # bool is an int subclass; True as a grade is a caller bug, not grade 1.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AdverseEventFacts:
    """What the rules need to know about one adverse event."""

    term: str
    grade: int | None
    haematological: bool
    occurrence: int = 1
    intolerable: bool = False
    bcva: VisualAcuity | None = None
    baseline_bcva: VisualAcuity | None = None

    def __post_init__(self) -> None:
        grade = self.grade
        if grade is not None and not (_whole(grade) and 1 <= grade <= 5):
            raise InvalidInput(f"grade must be a whole number 1-5, not {grade!r}", field="grade")
        if grade is None and self.bcva is None:
            raise InvalidInput(
                f"{self.term} needs a CTCAE grade (or, for blurred vision, a BCVA)", field="grade"
            )
        if grade is None and self.term.casefold() != _BLURRED_VISION:
            raise InvalidInput(
                f"{self.term} needs a CTCAE grade; only blurred vision can be given as a BCVA",
                field="grade",
            )
        if self.bcva is not None and self.baseline_bcva is None:
            raise InvalidInput("a BCVA needs the baseline BCVA to compare with", field="bcva")
        occurrence = self.occurrence
        if not (_whole(occurrence) and occurrence >= 1):
            raise InvalidInput(
                f"occurrence (this event included) must be a whole number >= 1, not {occurrence!r}",
                field="occurrence",
            )

    @property
    def bcva_category(self) -> BcvaCategory | None:
        """The BCVA against baseline, when a BCVA was given."""
        if self.bcva is None or self.baseline_bcva is None:
            return None
        return bcva_category(self.bcva, self.baseline_bcva)

    @property
    def effective_grade(self) -> int:
        """The grade given, or for blurred vision given as a BCVA the grade the BCVA implies."""
        if self.grade is not None:
            return self.grade
        if self.bcva is None or self.baseline_bcva is None:  # refused in __post_init__
            raise AssertionError("AdverseEventFacts without a grade or a BCVA")
        # No acuity lost is still grade 1: the patient reported blurred vision.
        return grade_blurred_vision(self.bcva, self.baseline_bcva) or 1


@dataclass(frozen=True)
class DoseRecommendation:
    """What the rule set recommends for one adverse event, and which rule said so."""

    action: RecommendedAction
    resume: Resume | None
    resume_when_grade_at_most: int | None
    resume_when_bcva_at_baseline: bool
    within_days: int | None
    discontinue_all_agents: bool
    rule_set: str
    rule_set_version: str
    rule: str
    note: str | None

    def as_json(self) -> dict[str, object]:
        """The short public form (CLI, API)."""
        return {
            "action": self.action,
            "resume": self.resume,
            "resume_when_grade_at_most": self.resume_when_grade_at_most,
            "within_days": self.within_days,
            "discontinue_all_agents": self.discontinue_all_agents,
            "rule_set": self.rule_set,
            "rule": self.rule,
        }

    def as_record(self) -> dict[str, object]:
        """Every field, for storing on events."""
        return dataclasses.asdict(self)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Occurrence(_Value):
    """Bounds on how many times this term has occurred at this grade band, this one included."""

    min: Annotated[int, Field(ge=1, strict=True)] = 1
    max: Annotated[int, Field(ge=1, strict=True)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Occurrence:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"occurrence: max ({self.max}) is below min ({self.min})")
        return self


class Rule(_Value):
    """One row of a dose-modification table: when it matches, and what it recommends."""

    id: Slug
    description: Text
    trigger: Trigger = "adverse_event"
    terms: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    category: Category = "any"
    grades: Annotated[tuple[Grade, ...], Field(min_length=1)] | None = None
    bcva: Annotated[tuple[BcvaCategory, ...], Field(min_length=1)] | None = None
    occurrence: Occurrence | None = None
    intolerable: Annotated[bool, Field(strict=True)] | None = None
    action: Action
    resume: Resume | None = None
    resume_when_grade_at_most: Annotated[int, Field(ge=0, le=4, strict=True)] | None = None
    resume_when_bcva_at_baseline: Annotated[bool, Field(strict=True)] = False
    within_days: Annotated[int, Field(ge=1, le=365, strict=True)] | None = None
    if_not_recovered: Slug | None = None
    note: Text | None = None
    protocol_default: Annotated[bool, Field(strict=True)] = False

    @field_validator("terms")
    @classmethod
    def _ctcae_terms(cls, terms: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # A misspelt term would silently never match; refuse it and keep CTCAE's spelling.
        if terms is None:
            return None
        catalogue = CtcaeCatalogue.load()
        canonical = tuple(catalogue.lookup(term).term for term in terms)
        if len(set(canonical)) != len(canonical):
            raise ValueError("a term is listed twice")
        return canonical

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        for name in ("grades", "bcva"):
            values = getattr(self, name)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"{name}: a value is listed twice")
        self._check_grades_exist()
        self._check_consequence()
        return self

    def _check_grades_exist(self) -> None:
        # A grade none of the terms defines is a rule that can never fire.
        if self.terms is None or self.grades is None:
            return
        catalogue = CtcaeCatalogue.load()
        defined = {g for term in self.terms for g in catalogue.lookup(term).grades}
        for grade in self.grades:
            if grade not in defined:
                raise ValueError(
                    f"grade {grade} is not a grade of {' / '.join(self.terms)} "
                    f"in CTCAE v{CTCAE_VERSION}"
                )

    def _check_consequence(self) -> None:
        if self.action != "withhold":
            for name in ("resume", "resume_when_grade_at_most", "within_days"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is only for withhold")
            if self.resume_when_bcva_at_baseline:
                raise ValueError("resume_when_bcva_at_baseline is only for withhold")
        else:
            if self.resume is None:
                raise ValueError("withhold needs resume: same or reduced")
            if self.resume_when_grade_at_most is None and not self.resume_when_bcva_at_baseline:
                raise ValueError(
                    "withhold needs a resume condition: resume_when_grade_at_most "
                    "or resume_when_bcva_at_baseline"
                )
        if self.within_days is not None and self.if_not_recovered is None:
            raise ValueError("within_days needs if_not_recovered: the rule for a missed deadline")
        if self.if_not_recovered is not None and self.within_days is None:
            raise ValueError("if_not_recovered is only for a rule with within_days")

    @property
    def unconditional(self) -> bool:
        """True for a rule that matches every adverse event."""
        conditions = (self.terms, self.grades, self.bcva, self.occurrence, self.intolerable)
        return (
            self.trigger == "adverse_event"
            and self.category == "any"
            and all(value is None for value in conditions)
        )

    def matches(self, facts: AdverseEventFacts) -> bool:
        """True if this rule applies to the adverse event (deadline rules never do)."""
        if self.trigger != "adverse_event":
            return False
        if self.terms is not None and facts.term.casefold() not in {
            t.casefold() for t in self.terms
        }:
            return False
        if self.category != "any" and facts.haematological != (self.category == "haematological"):
            return False
        acuity = facts.bcva_category
        # A BCVA, when given, is the criterion for rules that have one; otherwise the grade is
        # (for a BCVA alone, the grade it implies, so that sets without BCVA rules still act).
        if acuity is not None and self.bcva is not None:
            if acuity not in self.bcva:
                return False
        elif self.grades is not None:
            if facts.effective_grade not in self.grades:
                return False
        elif self.bcva is not None:
            return False
        if self.occurrence is not None and not (
            self.occurrence.min
            <= facts.occurrence
            <= (facts.occurrence if self.occurrence.max is None else self.occurrence.max)
        ):
            return False
        return self.intolerable is None or self.intolerable == facts.intolerable


class RuleSet(_Value):
    """A versioned, ordered table of dose-modification rules; the first match fires."""

    id: Slug
    version: Annotated[str, Field(min_length=1, max_length=20)]
    title: Text
    rules: Annotated[tuple[Rule, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> RuleSet:
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"{_at(i, rule)}: duplicate id; rules.{seen[rule.id]} has it too")
            seen[rule.id] = i
        last = len(self.rules) - 1
        for i, rule in enumerate(self.rules[:-1]):
            if rule.unconditional:
                raise ValueError(
                    f"{_at(i, rule)}: a rule with no conditions must come last; "
                    "it hides every rule after it"
                )
        if not (self.rules[-1].unconditional and self.rules[-1].action == "continue"):
            raise ValueError(
                f"{_at(last, self.rules[-1])}: the last rule must be a catch-all continue "
                "(no conditions), so that every adverse event gets a recommendation"
            )
        self._check_deadlines(seen)
        return self

    def _check_deadlines(self, index: dict[str, int]) -> None:
        named = {rule.if_not_recovered for rule in self.rules}
        for i, rule in enumerate(self.rules):
            target = rule.if_not_recovered
            if target is not None and (
                target not in index or self.rules[index[target]].trigger == "adverse_event"
            ):
                raise ValueError(
                    f"{_at(i, rule)}: if_not_recovered must name a rule of this set with "
                    f"trigger recovery_deadline_passed, not {target!r}"
                )
            if rule.trigger == "recovery_deadline_passed" and rule.id not in named:
                raise ValueError(
                    f"{_at(i, rule)}: never fires: no rule names it in if_not_recovered"
                )

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise NotFound(f"rule set {self.id} has no rule '{rule_id}'", kind="rule", ident=rule_id)

    def evaluate(
        self, facts: AdverseEventFacts, *, discontinue_all_agents: bool
    ) -> DoseRecommendation:
        """The first matching rule's recommendation.

        ``discontinue_all_agents`` is the protocol's policy: whether a discontinuation stops
        every agent; the recommendation carries it only when the action is discontinue.
        """
        for rule in self.rules:
            if rule.matches(facts):
                return self.recommendation(rule.id, discontinue_all_agents=discontinue_all_agents)
        raise AssertionError(f"rule set {self.id} has no catch-all rule")  # validated away

    def recommendation(self, rule_id: str, *, discontinue_all_agents: bool) -> DoseRecommendation:
        """The recommendation of one rule, fetched by id (e.g. a missed-deadline rule)."""
        rule = self.rule(rule_id)
        return DoseRecommendation(
            action=rule.action,
            resume=rule.resume,
            resume_when_grade_at_most=rule.resume_when_grade_at_most,
            resume_when_bcva_at_baseline=rule.resume_when_bcva_at_baseline,
            within_days=rule.within_days,
            discontinue_all_agents=discontinue_all_agents and rule.action == "discontinue",
            rule_set=self.id,
            rule_set_version=self.version,
            rule=rule.id,
            note=rule.note,
        )


def _at(index: int, rule: Rule) -> str:
    return f"rules.{index} ({rule.id})"


def rule_set_from_mapping(data: Mapping[str, Any], *, source: str = "rule set") -> RuleSet:
    """Validate a rule set given as plain data; errors name the rule at fault."""
    name = data.get("id") if isinstance(data, Mapping) else None
    prefix = f"{source} {name}" if isinstance(name, str) and name else source
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(first["loc"], data)
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        location = f"{where}: " if where else ""
        raise InvalidInput(f"{prefix}: {location}{message}{more}", field=where or None) from None


def _where(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        rule = rules[loc[1]] if isinstance(rules, list | tuple) and loc[1] < len(rules) else None
        ident = rule.get("id") if isinstance(rule, Mapping) else None
        head = f"rules.{loc[1]}" + (f" ({ident})" if isinstance(ident, str) else "")
        rest = ".".join(str(p) for p in loc[2:])
        return f"{head}: {rest}" if rest else head
    return ".".join(str(p) for p in loc)


def load_rule_set(rule_set_id: str) -> RuleSet:
    """One of the shipped rule sets, by id."""
    if rule_set_id not in RULE_SET_IDS:
        raise NotFound(
            f"no rule set '{rule_set_id}'; rule sets: {', '.join(RULE_SET_IDS)}",
            kind="rule_set",
            ident=rule_set_id,
        )
    return _shipped(rule_set_id)


@functools.cache
def _shipped(rule_set_id: str) -> RuleSet:
    text = resources.files("domain.data.rule_sets").joinpath(f"{rule_set_id}.json").read_text()
    rule_set = rule_set_from_mapping(json.loads(text), source=f"shipped rule set {rule_set_id}")
    if rule_set.id != rule_set_id:
        raise ValueError(f"rule set file {rule_set_id}.json has id {rule_set.id}")
    return rule_set
