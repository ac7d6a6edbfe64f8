"""``doseledger trials``, ``trial ...`` and ``demo``: register a trial from a protocol, show it,
and sign the safety review committee's decisions and re-reviews on it; record or replay the demo
trial."""

from __future__ import annotations

import argparse
from typing import Any

from adapters.access import SRC_SIGNATURE, TRIAL_MANAGEMENT
from adapters.application import DoseLedger
from adapters.cli.common import (
    Parser,
    actor,
    packet_sha256_arg,
    print_json,
    store_command,
    uuid_arg,
)
from adapters.cli.projections import caught_up
from adapters.demo import find_demo_trial, record_demo_trial
from domain.protocol import TEMPLATE_IDS, Protocol, load_protocol_file, template
from domain.trial import DECISIONS, REVIEW_OUTCOMES

LIST_ALL = 1_000  # trials read per page when listing them all


def _protocol(args: argparse.Namespace) -> Protocol:
    if args.protocol_file:
        return load_protocol_file(args.protocol_file)
    return template(args.template)


def cmd_trials(args: argparse.Namespace, ledger: DoseLedger) -> None:
    with caught_up("trial_overview") as queries:
        listed, following = queries.trial_list(0, LIST_ALL)
        while following is not None:
            more, following = queries.trial_list(following, LIST_ALL)
            listed += more
    print_json(listed)


def cmd_trial_register(args: argparse.Namespace, ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(_protocol(args), actor(args), name=args.name or "")
    print_json({"trial_id": str(trial_id)})


def cmd_trial_show(args: argparse.Namespace, ledger: DoseLedger) -> None:
    if args.table:
        print(ledger.cohort_table(args.trial_id))
    else:
        print_json(ledger.trial(args.trial_id))


def cmd_trial_decide(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.sign_decision(
        args.trial_id,
        args.cohort,
        args.decision,
        actor(args),
        meaning=args.meaning,
        mtd_level=args.mtd_level,
        reason=args.reason,
        packet_sha256=args.packet_sha256,
    )
    print_json(ledger.trial(args.trial_id)["cohorts"][-1])


def cmd_trial_review(args: argparse.Namespace, ledger: DoseLedger) -> None:
    ledger.review_decision(
        args.trial_id,
        args.cohort,
        args.outcome,
        actor(args),
        reason=args.reason,
        meaning=args.meaning,
    )
    print_json(ledger.trial(args.trial_id)["cohorts"][args.cohort - 1])


def cmd_demo(args: argparse.Namespace, ledger: DoseLedger) -> None:
    trial_id = None
    if args.reuse:
        with caught_up("trial_overview") as queries:
            trial_id = find_demo_trial(queries)
    if trial_id is None:
        trial_id = record_demo_trial(ledger)
        print(f"Recorded the demo trial {trial_id}.\n")
    else:
        print(f"Replayed the demo trial {trial_id} from its events.\n")
    print(ledger.cohort_table(trial_id))


def register(sub: Any) -> None:
    """Add ``trials``, ``demo`` and the ``trial`` group to the top-level parser."""
    store_command(sub, "trials", cmd_trials, "list the trials in the store as JSON")
    p = store_command(
        sub,
        "demo",
        cmd_demo,
        "record the demo defactinib + avutometinib escalation; print its cohorts",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="replay the store's demo trial if it has one instead of recording anew",
    )

    trial = sub.add_parser(
        "trial",
        help="register, show and decide on trials",
        description="Register (--role admin), show (any role), and sign the SRC's decisions and "
        "re-reviews (--role src_member).",
    )
    tsub = trial.add_subparsers(dest="trial_command", required=True, parser_class=Parser)
    p = store_command(
        tsub,
        "register",
        cmd_trial_register,
        "register a trial from a protocol",
        duty=TRIAL_MANAGEMENT,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--template", choices=TEMPLATE_IDS)
    source.add_argument("--protocol-file", metavar="FILE")
    p.add_argument("--name")
    p = store_command(tsub, "show", cmd_trial_show, "show a trial (JSON, or --table)")
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--table", action="store_true")
    p = store_command(
        tsub,
        "decide",
        cmd_trial_decide,
        "sign the safety review committee's decision on the open cohort",
        duty=SRC_SIGNATURE,
    )
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--cohort", type=int, required=True)
    p.add_argument("--decision", choices=DECISIONS, required=True)
    p.add_argument("--mtd-level", type=int)
    p.add_argument("--meaning", default="approval")
    p.add_argument("--reason")
    p.add_argument(
        "--packet-sha256",
        type=packet_sha256_arg,
        metavar="HASH",
        help="the SHA-256 of the SRC packet the decision was made on (report src-packet)",
    )

    p = store_command(
        tsub,
        "review-decision",
        cmd_trial_review,
        "sign the SRC's re-review of a decision a correction flagged (src_rereview)",
        duty=SRC_SIGNATURE,
    )
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--cohort", type=int, required=True)
    p.add_argument("--outcome", choices=REVIEW_OUTCOMES, required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--meaning", default="review")
