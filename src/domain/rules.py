"""Dose-modification recommendations for a protocol: its rule set applied to one adverse event.

The rule sets themselves (data, validation, evaluation) live in ``domain.rule_set_model``; this
module adds what depends on the protocol: which set applies, what "discontinue" stops, and what
a reduction means at the bottom of the reduction ladder.
"""

from __future__ import annotations

from domain.errors import InvalidInput
from domain.protocol import Protocol
from domain.rule_set_model import (
    RULE_SET_IDS,
    Action,
    AdverseEventFacts,
    BcvaCategory,
    DoseRecommendation,
    Rule,
    RuleSet,
    bcva_category,
    load_rule_set,
    rule_set_from_mapping,
)

__all__ = [
    "CPK_NOT_RECOVERED",
    "LADDER_EXHAUSTED_NOTE",
    "RULE_SET_IDS",
    "Action",
    "AdverseEventFacts",
    "BcvaCategory",
    "DoseRecommendation",
    "Rule",
    "RuleSet",
    "bcva_category",
    "ladder_exhausted_recommendation",
    "load_rule_set",
    "recommend_dose",
    "recommend_not_recovered",
    "rule_set_for",
    "rule_set_from_mapping",
]

CPK_NOT_RECOVERED = "cpk-not-recovered"
"""The avutometinib set's rule for CPK not back to ≤ grade 1 within 21 days of a hold."""

LADDER_EXHAUSTED_NOTE = "reduction ladder exhausted: no lower dose to reduce to"


def rule_set_for(protocol: Protocol) -> RuleSet:
    """The protocol's own rule set if it has one, else the shipped set it names."""
    if protocol.custom_rule_set is not None:
        return protocol.custom_rule_set
    if protocol.rule_set is None:
        raise InvalidInput(
            f"protocol {protocol.id} names no rule set, so it gets no dose recommendations",
            field="rule_set",
        )
    return load_rule_set(protocol.rule_set)


def _discontinue_all(protocol: Protocol) -> bool:
    return protocol.ladder_exhausted == "discontinue_all_agents"


def recommend_dose(
    protocol: Protocol, facts: AdverseEventFacts, *, can_reduce: bool = True
) -> DoseRecommendation:
    """The protocol's recommendation for one adverse event.

    ``can_reduce=False`` means the patient is on the last step of the reduction ladder: a
    reduction, now or on resuming, becomes a discontinuation (domain.md §5).
    """
    rule_set = rule_set_for(protocol)
    recommendation = rule_set.evaluate(facts, discontinue_all_agents=_discontinue_all(protocol))
    if not can_reduce and (recommendation.action == "reduce" or recommendation.resume == "reduced"):
        return ladder_exhausted_recommendation(protocol, rule_set, recommendation.rule)
    return recommendation


def ladder_exhausted_recommendation(
    protocol: Protocol, rule_set: RuleSet, from_rule: str
) -> DoseRecommendation:
    """Discontinue because ``from_rule`` asks for a dose below the ladder's last step."""
    rule_set.rule(from_rule)  # refuse an id the set does not have
    return DoseRecommendation(
        action="discontinue",
        resume=None,
        resume_when_grade_at_most=None,
        resume_when_bcva_at_baseline=False,
        within_days=None,
        discontinue_all_agents=_discontinue_all(protocol),
        rule_set=rule_set.id,
        rule_set_version=rule_set.version,
        rule=from_rule,
        note=LADDER_EXHAUSTED_NOTE,
    )


def recommend_not_recovered(protocol: Protocol, from_rule: str) -> DoseRecommendation:
    """The recommendation when the hold ``from_rule`` opened passes its deadline unrecovered."""
    rule_set = rule_set_for(protocol)
    target = rule_set.rule(from_rule).if_not_recovered
    if target is None:
        raise InvalidInput(
            f"rule {from_rule} of rule set {rule_set.id} sets no recovery deadline",
            field="rule",
        )
    return rule_set.recommendation(target, discontinue_all_agents=_discontinue_all(protocol))
