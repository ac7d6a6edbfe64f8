"""What a dose-finding design contributes to the SRC packet: its parameters, and the rule that
produced the current recommendation, as rows of (term, value).

A design is looked up by the protocol's ``design.kind`` in :data:`DESIGN_TERMS`; each entry is a
:class:`DesignTerms`, a pure function of plain data. The 3+3's is here; an interval design
(BOIN, i3+3, mTPI-2) has its own entry, whose rule rows name the boundaries in force at the
current level, the eliminated levels and, at the end, the isotonic estimates (from
``projections.design_terms``, as the trial state and cohort summary show them). A kind without
an entry still gets its parameters listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from projections.design_terms import design_terms as interval_terms

Rows = list[tuple[str, str]]


class DesignFacts(NamedTuple):
    """What a design's terms are worked out from (plain data of the packet's record)."""

    design: Mapping[str, Any]
    """The protocol's ``design`` (``kind`` and the design's parameters)."""
    num_levels: int
    levels: Sequence[Mapping[str, Any]]
    """Per dose level: ``level``, ``patients`` (evaluable or awaited), ``evaluated``, ``dlts``."""
    current_level: int
    open_cohort: Mapping[str, Any]
    """The open cohort's row of the cohort table (``enrolled``, ``evaluable``, ...)."""
    recommendation: Mapping[str, Any] | None
    """The current recommendation (``action``, ``next_dose``, ``mtd``), None when none is due."""
    status: str


class DesignTerms(NamedTuple):
    """A design's contribution: parameter rows and the rows of the rule that fired."""

    parameters: Rows
    rule: Rows


DesignTermsOf = Callable[[DesignFacts], DesignTerms]


def _parameters(design: Mapping[str, Any]) -> Rows:
    return [(str(k).replace("_", " "), str(v)) for k, v in design.items() if k != "kind"]


def _level(facts: DesignFacts, level: int) -> Mapping[str, Any]:
    return next(
        (row for row in facts.levels if row["level"] == level),
        {"level": level, "evaluated": 0, "dlts": 0},
    )


def _counts(facts: DesignFacts, level: int) -> str:
    row = _level(facts, level)
    return f"{row['dlts']}/{row['evaluated']} with a DLT at DL{level}"


def three_plus_three_rule(facts: DesignFacts) -> Rows:
    """The 3+3 branch (domain.md §3) that gives the current recommendation, in words."""
    rec, last = facts.recommendation, facts.current_level
    here = _counts(facts, last)
    if facts.status != "escalating":
        return [("state", f"the escalation has ended ({facts.status.replace('_', ' ')})")]
    if rec is None:
        cohort = facts.open_cohort
        waiting = (
            f"cohort {cohort['cohort']} at DL{last}: {cohort['evaluable']} of "
            f"{cohort['enrolled'] - cohort['not_evaluable']} evaluable patients evaluated"
        )
        return [
            ("counts", here),
            ("rule", "no recommendation until the open cohort is fully evaluated"),
            ("open cohort", waiting),
        ]
    action = rec["action"]
    n, dlts = _level(facts, last)["evaluated"], _level(facts, last)["dlts"]
    above = _level(facts, last + 1)
    deescalate = bool(facts.design.get("deescalate", True))
    variant = "with de-escalation (Korn 1994)" if deescalate else "classic, without de-escalation"
    if action == "escalate":
        why = "0 of 3" if n == 3 else "at most 1 of 6"
        rule = f"{why} with a DLT: escalate to DL{rec['next_dose']}"
    elif action == "expand" and dlts == 1:
        rule = f"1 of 3 with a DLT: expand DL{last} to 6"
    elif action == "expand":
        rule = (
            f"DL{last} tolerated and DL{last + 1} exceeded ({above['dlts']} DLTs): "
            f"expand DL{last} to 6 before it can be the MTD"
        )
    elif action == "de-escalate":
        rule = (
            f"2 or more with a DLT: the MTD is exceeded at DL{last}; de-escalate to "
            f"DL{rec['next_dose']} (fewer than 6 patients there)"
        )
    elif action == "declare_mtd" and dlts >= 2:
        rule = (
            f"2 or more with a DLT at DL{last}: the MTD is DL{rec['mtd']}, the highest "
            "level below with at most 1 of 6 (or the level below, classic 3+3)"
        )
    elif action == "declare_mtd" and last == facts.num_levels:
        rule = f"DL{last} is the top level and was tolerated: it is the MTD"
    elif action == "declare_mtd":
        rule = (
            f"DL{last} tolerated and DL{last + 1} exceeded ({above['dlts']} DLTs): "
            f"DL{last} is the MTD"
        )
    elif action == "stop_no_mtd":
        rule = "2 or more with a DLT at the lowest level given: stop, no tolerable dose"
    else:
        rule = f"cohort at DL{last} in progress: enrol"
    return [("counts", here), ("rule", rule), ("variant", variant)]


def three_plus_three(facts: DesignFacts) -> DesignTerms:
    """The 3+3's terms: its parameters and the branch of the rule that fired."""
    return DesignTerms(_parameters(facts.design), three_plus_three_rule(facts))


def interval_rule(facts: DesignFacts) -> Rows:
    """An interval design's rule at the current level: its counts, the boundaries in force at
    that number of evaluated patients, the eliminated levels, what they give, and (once the
    trial has ended) the isotonic estimates the MTD was selected by."""
    ordered = sorted(facts.levels, key=lambda row: row["level"])
    ended = facts.status != "escalating"
    design, per_level = interval_terms(
        dict(facts.design),
        [row["evaluated"] for row in ordered],
        [row["dlts"] for row in ordered],
        ended=ended,
    )
    terms = per_level or []
    last = facts.current_level
    rows: Rows = [("counts", _counts(facts, last))]
    here = terms[last - 1] if 0 < last <= len(terms) else None
    bounds = None if here is None else here["boundaries"]
    if bounds is not None:
        rows.append(
            (
                "boundaries in force",
                f"with {here['evaluated']} evaluated at DL{last}: escalate with at most "
                f"{_bound(bounds['escalate_at_most'])}, de-escalate with at least "
                f"{_bound(bounds['deescalate_at_least'])}, eliminate with at least "
                f"{_bound(bounds['eliminate_at_least'])} DLTs",
            )
        )
    eliminated = ", ".join(f"DL{level}" for level in design.get("eliminated", [])) or "none"
    rows.append(("eliminated levels", eliminated))
    rec = facts.recommendation
    if ended:
        rows.append(("state", f"the escalation has ended ({facts.status.replace('_', ' ')})"))
    elif rec is None:
        rows.append(("rule", "no recommendation until the open cohort is fully evaluated"))
    else:
        target = rec.get("mtd") if rec["action"] == "declare_mtd" else rec.get("next_dose")
        where = "" if target is None else f" DL{target}"
        rows.append(("rule", f"{rec['action'].replace('_', ' ')}{where}"))
    estimates = [
        f"DL{index + 1} {level['estimate']:.3f}"
        for index, level in enumerate(terms)
        if level["estimate"] is not None
    ]
    if estimates:
        rows.append(
            (
                "isotonic estimates",
                f"{', '.join(estimates)} (target {design['target']:g}: the MTD is the level "
                "closest to it)",
            )
        )
    return rows


def _bound(value: Any) -> str:
    return "-" if value is None else str(value)


def interval_design(facts: DesignFacts) -> DesignTerms:
    """An interval design's terms (BOIN, i3+3, mTPI-2): its parameters and its rule."""
    return DesignTerms(_parameters(facts.design), interval_rule(facts))


DESIGN_TERMS: dict[str, DesignTermsOf] = {
    "3+3": three_plus_three,
    "boin": interval_design,
    "i3+3": interval_design,
    "mtpi2": interval_design,
}
"""Each design kind's terms, by the protocol's ``design.kind``."""


def design_terms(facts: DesignFacts) -> DesignTerms:
    """The terms of the protocol's design; a design without its own entry lists its
    parameters and says that it states no rule."""
    kind = str(facts.design.get("kind", "3+3"))
    found = DESIGN_TERMS.get(kind)
    if found is None:
        return DesignTerms(
            _parameters(facts.design), [("rule", f"design {kind} states no rule here")]
        )
    return found(facts)
