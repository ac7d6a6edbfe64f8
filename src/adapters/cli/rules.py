"""CLI commands for dose-modification rules and CTCAE grading from measurements."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, get_args

from adapters.cli.common import whole_arg
from domain.ctcae import CTCAE_VERSION, CtcaeCatalogue
from domain.errors import InvalidInput
from domain.grading import (
    NUMERIC_TERMS,
    CtcaeVersion,
    Symptoms,
    grade_alt,
    grade_ast,
    grade_bilirubin,
    grade_blurred_vision,
    grade_rash_acneiform,
)
from domain.protocol import TEMPLATE_IDS, Protocol, template
from domain.rules import AdverseEventFacts, Rule, RuleSet, recommend_dose, rule_set_for
from domain.vision import parse_bcva

_RASH = "Rash acneiform"
_BLURRED_VISION = "Blurred vision"
_LLN_TERMS = ("Neutrophil count decreased", "Platelet count decreased")
# Graders that also take an abnormal baseline; CPK has no baseline criterion in CTCAE v5.0.
_WITH_BASELINE: dict[str, Callable[[float, float, float | None], int]] = {
    "Alanine aminotransferase increased": grade_alt,
    "Aspartate aminotransferase increased": grade_ast,
    "Blood bilirubin increased": grade_bilirubin,
}
# The measurement options of ``ctcae grade``, by form; a term takes exactly one form.
_OPTIONS = {
    "value": "--value",
    "uln": "--uln",
    "lln": "--lln",
    "baseline": "--baseline",
    "bsa": "--bsa",
    "symptoms": "--symptoms",
    "ctcae_version": "--ctcae-version",
    "life_threatening": "--life-threatening",
    "bcva": "--bcva",
    "baseline_bcva": "--baseline-bcva",
}


_BCVA_WORDS = {
    "not_worse": "not worse than baseline",
    "worse": "worse than baseline but better than 20/200",
    "20/200_or_worse": "20/200 or worse",
}


# ------------------------------------------------------------------ rules evaluate / show


def cmd_rules_evaluate(args: argparse.Namespace) -> None:
    """Print the regimen's dose recommendation for one adverse event."""
    protocol = template(args.regimen)
    catalogue = CtcaeCatalogue.load()
    if args.grade is not None:
        term = catalogue.validate_grade(args.term, args.grade)
        bcva = baseline = None
        if args.baseline_bcva is not None:
            raise InvalidInput("--baseline-bcva goes with --bcva, not --grade", field="bcva")
    else:
        term = catalogue.lookup(args.term)
        if args.baseline_bcva is None:
            raise InvalidInput("--bcva needs --baseline-bcva to compare with", field="bcva")
        bcva, baseline = parse_bcva(args.bcva), parse_bcva(args.baseline_bcva)
    facts = AdverseEventFacts(
        term=term.term,
        grade=args.grade,
        haematological=term.is_haematological,
        occurrence=args.occurrence,
        intolerable=args.intolerable,
        bcva=bcva,
        baseline_bcva=baseline,
    )
    print(json.dumps(recommend_dose(protocol, facts).as_json()))


def cmd_rules_show(args: argparse.Namespace) -> None:
    """Print the regimen's rule table as a person would read it."""
    protocol = template(args.regimen)
    print(render_rule_table(protocol, rule_set_for(protocol)))


def render_rule_table(protocol: Protocol, rule_set: RuleSet) -> str:
    """The rule set as plain text: a header, then one line per rule in the order they apply."""
    width = max(len(rule.id) for rule in rule_set.rules)
    everything = protocol.ladder_exhausted == "discontinue_all_agents"
    lines = [
        f"{rule_set.id} {rule_set.version}: {rule_set.title}",
        f"regimen {protocol.id}; the first rule that matches an adverse event applies; "
        "a reduction below the last step of the reduction ladder means discontinue"
        + (" (all agents)" if everything else "")
        + ".",
        "",
    ]
    for n, rule in enumerate(rule_set.rules, start=1):
        line = f"{n:>2}. {rule.id:<{width}}  {_condition(rule)} -> {_outcome(rule, everything)}"
        if rule.note:
            line += f" ({rule.note})"
        if rule.protocol_default:
            line += "  [protocol default]"
        lines.append(line)
    return "\n".join(lines)


def _condition(rule: Rule) -> str:
    subject = {
        "haematological": "haematological AE",
        "non_haematological": "non-haematological AE",
        "any": "any AE",
    }[rule.category]
    if rule.terms is not None:
        subject = " or ".join(rule.terms)
    if rule.unconditional:
        return "any other AE"
    parts = [subject]
    if rule.bcva is not None:
        acuity = "BCVA " + " or ".join(_BCVA_WORDS[c] for c in rule.bcva)
        if rule.grades is not None:
            acuity += f" (without a BCVA: {_grades(rule.grades)})"
        parts.append(acuity)
    elif rule.grades is not None:
        parts.append(_grades(rule.grades))
    if rule.intolerable is not None:
        parts.append("intolerable" if rule.intolerable else "tolerable")
    if rule.occurrence is not None:
        parts.append(_occurrence(rule.occurrence.min, rule.occurrence.max))
    if rule.trigger == "recovery_deadline_passed":
        parts.append("not recovered by the hold's deadline")
    return ", ".join(parts)


def _grades(grades: tuple[int, ...]) -> str:
    ordered = sorted(grades)
    if len(ordered) == 1:
        return f"grade {ordered[0]}"
    return "grade " + ", ".join(str(g) for g in ordered[:-1]) + f" or {ordered[-1]}"


def _occurrence(low: int, high: int | None) -> str:
    ordinal = {1: "first", 2: "second", 3: "third"}
    if high == low:
        return f"{ordinal.get(low, f'occurrence {low}')} occurrence of the term"
    if high is None:
        return f"{ordinal.get(low, f'occurrence {low}')} or later occurrence of the term"
    return f"occurrence {low} to {high} of the term"


def _outcome(rule: Rule, everything: bool) -> str:
    if rule.action == "continue":
        return "continue"
    if rule.action == "reduce":
        return "reduce one step"
    if rule.action == "discontinue":
        return "discontinue" + (" all agents" if everything else "")
    when = []
    if rule.resume_when_grade_at_most == 0:
        when.append("resolved")
    elif rule.resume_when_grade_at_most is not None:
        when.append(f"grade <= {rule.resume_when_grade_at_most}")
    if rule.resume_when_bcva_at_baseline:
        when.append("BCVA back to baseline")
    text = f"withhold; resume at the {rule.resume} dose when " + " and ".join(when)
    if rule.within_days is not None:
        text += f" within {rule.within_days} days, else rule {rule.if_not_recovered}"
    return text


# ------------------------------------------------------------------ ctcae grade


def cmd_ctcae_grade(args: argparse.Namespace) -> None:
    """Print the CTCAE grade computed from measurements."""
    term = CtcaeCatalogue.load().lookup(args.term).term
    version: str = CTCAE_VERSION
    if term in NUMERIC_TERMS:
        grade = _grade_lab(term, args)
    elif term == _RASH:
        _only(args, term, ("bsa", "symptoms"), ("ctcae_version", "life_threatening"))
        rash_version: CtcaeVersion = args.ctcae_version or "5.0"
        grade = grade_rash_acneiform(
            args.bsa, args.symptoms, version=rash_version, life_threatening=args.life_threatening
        )
        version = rash_version
    elif term == _BLURRED_VISION:
        _only(args, term, ("bcva", "baseline_bcva"))
        grade = grade_blurred_vision(parse_bcva(args.bcva), parse_bcva(args.baseline_bcva))
    else:
        gradable = [*NUMERIC_TERMS, _RASH, _BLURRED_VISION]
        raise InvalidInput(
            f"{term} cannot be graded from measurements; gradable terms: {', '.join(gradable)}",
            field="term",
        )
    print(json.dumps({"term": term, "grade": grade, "ctcae_version": version}))


def _grade_lab(term: str, args: argparse.Namespace) -> int:
    if term in _LLN_TERMS:
        _only(args, term, ("value", "lln"))
        return NUMERIC_TERMS[term](args.value, args.lln)
    if term in _WITH_BASELINE:
        _only(args, term, ("value", "uln"), ("baseline",))
        return _WITH_BASELINE[term](args.value, args.uln, args.baseline)
    _only(args, term, ("value", "uln"))
    return NUMERIC_TERMS[term](args.value, args.uln)


def _only(
    args: argparse.Namespace, term: str, needed: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """Refuse a missing measurement, or one that belongs to another term's form."""
    missing = [_OPTIONS[name] for name in needed if not _given(args, name)]
    if missing:
        given = " and ".join(_OPTIONS[name] for name in needed)
        raise InvalidInput(f"{term} is graded from {given}; missing {', '.join(missing)}")
    for name, option in _OPTIONS.items():
        if name not in needed + optional and _given(args, name):
            raise InvalidInput(f"{option} does not apply to {term}", field=name)


def _given(args: argparse.Namespace, name: str) -> bool:
    # Identity, not equality: a measurement of 0 is given, and 0 == False.
    value = getattr(args, name)
    return value is not None and value is not False


# ------------------------------------------------------------------ parser


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def register(sub: Any) -> None:
    """Add ``rules evaluate``, ``rules show`` and ``ctcae grade`` to the top-level parser."""
    rules = sub.add_parser("rules", help="dose-modification rules of a regimen")
    rsub = rules.add_subparsers(dest="rules_command", required=True, parser_class=type(rules))
    regimens = ", ".join(TEMPLATE_IDS)

    p = rsub.add_parser(
        "evaluate",
        help="the dose recommendation for one adverse event",
        description="Print the regimen's dose recommendation for one adverse event as JSON.",
    )
    p.add_argument("--regimen", required=True, help=f"protocol template: {regimens}")
    p.add_argument("--term", required=True, help="CTCAE v5.0 term or MedDRA code")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--grade", type=whole_arg, help="CTCAE grade")
    given.add_argument("--bcva", metavar="SNELLEN", help="blurred vision: BCVA, e.g. 20/80")
    p.add_argument("--baseline-bcva", metavar="SNELLEN", help="baseline BCVA (with --bcva)")
    p.add_argument(
        "--occurrence",
        type=whole_arg,
        default=1,
        help="occurrences of this term at this grade band, this one included (default 1)",
    )
    p.add_argument("--intolerable", action="store_true", help="the patient finds it intolerable")
    p.set_defaults(plain_handler=cmd_rules_evaluate)

    p = rsub.add_parser(
        "show",
        help="the regimen's rule table",
        description="Print the regimen's dose-modification rules in the order they apply.",
    )
    p.add_argument("--regimen", required=True, help=f"protocol template: {regimens}")
    p.set_defaults(plain_handler=cmd_rules_show)

    ctcae = sub.add_parser("ctcae", help="CTCAE v5.0 grading from measurements")
    csub = ctcae.add_subparsers(dest="ctcae_command", required=True, parser_class=type(ctcae))
    p = csub.add_parser(
        "grade",
        help="the CTCAE grade of a lab value, a rash or a BCVA",
        description=(
            "Lab terms: --value with --uln (CPK, ALT, AST, bilirubin; --baseline for an abnormal "
            "baseline of ALT/AST/bilirubin) or --lln (neutrophils, platelets). Rash acneiform: "
            "--bsa and --symptoms. Blurred vision: --bcva and --baseline-bcva."
        ),
    )
    p.add_argument("--term", required=True, help="CTCAE v5.0 term or MedDRA code")
    p.add_argument("--value", type=_number, help="the lab value (count per mm³ for counts)")
    p.add_argument("--uln", type=_number, help="upper limit of normal")
    p.add_argument("--lln", type=_number, help="lower limit of normal")
    p.add_argument("--baseline", type=_number, help="baseline lab value (if abnormal)")
    p.add_argument("--bsa", type=_number, metavar="PERCENT", help="%% body surface area")
    p.add_argument("--symptoms", choices=get_args(Symptoms))
    p.add_argument("--ctcae-version", choices=get_args(CtcaeVersion), help="default 5.0")
    p.add_argument("--life-threatening", action="store_true")
    p.add_argument("--bcva", metavar="SNELLEN")
    p.add_argument("--baseline-bcva", metavar="SNELLEN")
    p.set_defaults(plain_handler=cmd_ctcae_grade)
