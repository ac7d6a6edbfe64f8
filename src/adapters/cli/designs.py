"""CLI commands of the interval designs (BOIN, i3+3, mTPI-2): boundaries and the next dose.

``simulate`` (in :mod:`adapters.cli.design`) takes the same design arguments, added here.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from adapters.cli.common import whole_arg
from domain.designs.catalogue import INTERVAL_DESIGNS, boundaries, interval_design
from domain.designs.interval_designs import IntervalDesign, recommend_text


def positive_arg(text: str) -> int:
    """A whole number of at least 1 (a count of doses, patients or runs)."""
    value = whole_arg(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def _interval(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"'{text}' is not two numbers A,B (e.g. 0.25,0.35)")
    low, high = (_number(part.strip()) for part in parts)
    return low, high


def add_design_arguments(p: argparse.ArgumentParser, *, kinds: tuple[str, ...]) -> None:
    """The interval designs' arguments: --design, --target and their parameters."""
    p.add_argument("--design", choices=kinds, default=kinds[0], help=f"default {kinds[0]}")
    p.add_argument("--target", type=_number, help="target DLT rate, e.g. 0.30")
    p.add_argument("--cohort-size", type=positive_arg, help="patients per cohort (default 3)")
    p.add_argument("--max-n", type=positive_arg, help="maximum sample size (default 30)")
    p.add_argument(
        "--n-earlystop",
        type=positive_arg,
        help="stop when the decision is to stay at a dose with this many patients (default 100)",
    )
    p.add_argument("--cutoff-eli", type=_number, help="elimination cut-off (default 0.95)")
    p.add_argument(
        "--extrasafe", action="store_true", help="the stricter stopping rule at the lowest dose"
    )
    p.add_argument("--offset", type=_number, help="with --extrasafe (default 0.05)")
    p.add_argument("--phi1", type=_number, help="boin: rate deemed too low (default 0.6 x target)")
    p.add_argument("--phi2", type=_number, help="boin: rate deemed too high (default 1.4 x target)")
    p.add_argument(
        "--interval",
        type=_interval,
        metavar="A,B",
        help="i3+3: the equivalence interval (default target-0.05,target+0.05)",
    )
    p.add_argument("--epsilon1", type=_number, help="mtpi2: interval below the target (0.05)")
    p.add_argument("--epsilon2", type=_number, help="mtpi2: interval above the target (0.05)")


_SHARED = ("cohort_size", "max_n", "n_earlystop", "cutoff_eli", "offset")
_OWN = ("phi1", "phi2", "interval", "epsilon1", "epsilon2")


def check_design_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a missing --target, or interval-design arguments given to the 3+3."""
    if args.design in INTERVAL_DESIGNS:
        if args.target is None:
            parser.error(f"--design {args.design} needs --target (the target DLT rate)")
        return
    given = [n for n in ("target", *_SHARED, *_OWN) if getattr(args, n) is not None]
    if args.extrasafe:
        given.append("extrasafe")
    if given:
        option = "--" + given[0].replace("_", "-")
        parser.error(f"{option} goes with an interval design (--design boin, i3+3 or mtpi2)")


def design_from_args(args: argparse.Namespace) -> IntervalDesign:
    """The interval design the arguments describe (defaults for what they leave out)."""
    settings = {name: getattr(args, name) for name in (*_SHARED, *_OWN)}
    return interval_design(
        args.design,
        args.target,
        extrasafe=args.extrasafe,
        **{name: value for name, value in settings.items() if value is not None},
    )


def cmd_boundaries(args: argparse.Namespace) -> None:
    """Print the design's decision table."""
    print(json.dumps(boundaries(design_from_args(args))))


def cmd_next_dose(args: argparse.Namespace) -> None:
    """Print the design's recommendation for an outcome string."""
    rec = recommend_text(args.outcomes, args.doses, design_from_args(args))
    print(json.dumps(rec.as_json()))


def register(sub: Any) -> None:
    """Add ``design boundaries`` and ``next-dose`` to the top-level parser."""
    group = sub.add_parser(
        "design",
        help="an interval design's decision table (BOIN, i3+3, mTPI-2)",
        description="Tables of the model-assisted dose-finding designs.",
    )
    commands = group.add_subparsers(dest="design_command", required=True, parser_class=type(group))
    p = commands.add_parser(
        "boundaries",
        help="escalation, de-escalation and elimination boundaries per number of patients",
        description='Print {"lambda_e", "lambda_d", "rows": [{"n", "escalate_at_most", '
        '"deescalate_at_least", "eliminate_at_least"}]} (i3+3 and mTPI-2 print their own '
        "parameters instead of lambda_e and lambda_d).",
    )
    add_design_arguments(p, kinds=INTERVAL_DESIGNS)
    p.set_defaults(plain_handler=cmd_boundaries, check_args=check_design_args)

    p = sub.add_parser(
        "next-dose",
        help="an interval design's next dose for an outcome string, e.g. '1NNN 2NTN'",
        description='Print {"next_dose", "continue", "mtd", "eliminated"} after a trial path '
        "such as '1NNN 2NTT' under BOIN, i3+3 or mTPI-2.",
    )
    p.add_argument("outcomes", help="cohorts like '1NNN 2NTN' (N: no DLT, T: DLT); '' = none")
    p.add_argument("--doses", type=positive_arg, required=True, help="number of dose levels")
    add_design_arguments(p, kinds=INTERVAL_DESIGNS)
    p.set_defaults(plain_handler=cmd_next_dose, check_args=check_design_args)
