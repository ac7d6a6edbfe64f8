"""CLI commands for the designs themselves: the 3+3's recommendation, and operating
characteristics of the 3+3 or of an interval design (``--design boin``, ``i3+3``, ``mtpi2``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from adapters.cli.designs import (
    add_design_arguments,
    check_design_args,
    design_from_args,
    positive_arg,
)
from domain.designs import interval_operating_characteristics as interval_oc
from domain.designs.catalogue import INTERVAL_DESIGNS
from domain.designs.operating_characteristics import exact, parse_true_tox, simulate
from domain.designs.three_plus_three import recommend_text


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole-number seed") from None


def cmd_three_plus_three(args: argparse.Namespace) -> None:
    """Print the 3+3 recommendation for an outcome string."""
    rec = recommend_text(args.outcomes, args.doses, deescalate=args.deescalate)
    print(json.dumps(rec.as_json()))


def cmd_simulate(args: argparse.Namespace) -> None:
    """Print the design's operating characteristics, exact or simulated."""
    true_tox = parse_true_tox(args.true_tox)
    result: Any
    if args.design in INTERVAL_DESIGNS:
        design = design_from_args(args)
        if args.exact:
            result = interval_oc.exact(design, true_tox)
        else:
            with _progress_bar(args.runs) as bar:
                result = interval_oc.simulate(
                    design, true_tox, runs=args.runs, seed=args.seed, progress=bar.update
                )
    elif args.exact:
        result = exact(true_tox, deescalate=args.deescalate)
    else:
        with _progress_bar(args.runs) as bar:
            result = simulate(
                true_tox,
                deescalate=args.deescalate,
                runs=args.runs,
                seed=args.seed,
                progress=bar.update,
            )
    print(json.dumps(result.as_json()))


def _progress_bar(runs: int) -> tqdm[Any]:
    return tqdm(
        total=runs,
        desc="simulating",
        unit="trial",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )


def register(sub: Any) -> None:
    """Add ``three-plus-three`` and ``simulate`` to the top-level parser."""
    p = sub.add_parser(
        "three-plus-three",
        help="3+3 recommendation for an outcome string, e.g. '1NNN 2NTN'",
        description="Print {next_dose, continue, mtd} for a trial path such as '1NNN 2NTN 2NNN'.",
    )
    p.add_argument("outcomes", help="cohorts like '1NNN 2NTN' (N: no DLT, T: DLT); '' = none")
    p.add_argument("--doses", type=positive_arg, required=True, help="number of dose levels")
    p.add_argument("--deescalate", action="store_true", help="Korn 1994 de-escalation variant")
    p.set_defaults(plain_handler=cmd_three_plus_three)

    p = sub.add_parser(
        "simulate",
        help="operating characteristics of a design (3+3 by default) for assumed true DLT rates",
        description="Probability of selecting each level as MTD, expected patients and DLTs. "
        "--exact enumerates every path (for an interval design: dynamic programming over the "
        "trial's states, up to 12 cohorts).",
    )
    p.add_argument(
        "--true-tox",
        required=True,
        metavar="P1,P2,...",
        help="true DLT probability per dose level, e.g. 0.05,0.10,0.20,0.35",
    )
    p.add_argument("--deescalate", action="store_true", help="Korn 1994 de-escalation variant")
    add_design_arguments(p, kinds=("3+3", *INTERVAL_DESIGNS))
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--exact", action="store_true", help="enumerate every path")
    mode.add_argument("--runs", type=positive_arg, help="number of simulated trials")
    p.add_argument("--seed", type=_seed, help="random seed (required with --runs)")
    p.set_defaults(plain_handler=cmd_simulate, check_args=_check_simulate_args)


def _check_simulate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.runs is not None and args.seed is None:
        parser.error("--runs needs --seed S, so that the simulation is reproducible")
    if args.exact and args.seed is not None:
        parser.error("--seed goes with --runs, not --exact")
    if args.design != "3+3" and args.deescalate:
        parser.error("--deescalate goes with --design 3+3")
    check_design_args(parser, args)
