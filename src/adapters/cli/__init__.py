"""The ``doseledger`` command line: parse, call one service function, print JSON or a table."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import NoReturn
from uuid import uuid4

import structlog
from pydantic import ValidationError

from adapters.access import SRC_SIGNATURE, TRIAL_MANAGEMENT
from adapters.bootstrap import build_ledger
from adapters.cli import audit, design, patients, projections, reminders, reports, rules, serve
from adapters.cli.common import actor, print_json, refusal, store_command, uuid_arg
from adapters.demo import find_demo_trial, record_demo_trial
from adapters.logging import configure_logging
from adapters.services import DoseLedger
from adapters.settings import Settings
from domain.actors import ROLES
from domain.errors import CommandRefused, ConcurrencyConflict, DomainError, InvalidInput, NotFound
from domain.protocol import TEMPLATE_IDS, Protocol, load_protocol_file, template
from domain.trial import DECISIONS, REVIEW_OUTCOMES
from projections.trial_state import render_cohort_table

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input; reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line on stderr (exit 2) and never print the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _protocol(args: argparse.Namespace) -> Protocol:
    if args.protocol_file:
        return load_protocol_file(args.protocol_file)
    return template(args.template)


# ------------------------------------------------------------------ handlers (one service call)


def cmd_trials(args: argparse.Namespace, ledger: DoseLedger) -> None:
    print_json(ledger.trials())


def cmd_trial_register(args: argparse.Namespace, ledger: DoseLedger) -> None:
    trial_id = ledger.register_trial(_protocol(args), actor(args), name=args.name or "")
    print_json({"trial_id": str(trial_id)})


def cmd_trial_show(args: argparse.Namespace, ledger: DoseLedger) -> None:
    if args.table:
        print(render_cohort_table(ledger.trial_aggregate(args.trial_id)))
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
    trial_id = find_demo_trial(ledger) if args.reuse else None
    if trial_id is None:
        trial_id = record_demo_trial(ledger)
        print(f"Recorded the demo trial {trial_id}.\n")
    else:
        print(f"Replayed the demo trial {trial_id} from its events.\n")
    print(render_cohort_table(ledger.trial_aggregate(trial_id)))


def cmd_protocols(args: argparse.Namespace) -> None:
    if args.validate:
        protocol = load_protocol_file(args.validate)
        print_json({"valid": True, "id": protocol.id, "levels": protocol.num_levels})
    elif args.show:
        print_json(template(args.show).model_dump(mode="json"))
    else:
        print_json([{"id": t, "title": template(t).title} for t in TEMPLATE_IDS])


# ------------------------------------------------------------------ parser


def build_parser() -> Parser:
    """The whole command-line grammar."""
    parser = Parser(prog="doseledger", description="Event-sourced 3+3 dose-escalation ledger.")
    parser.add_argument(
        "--user",
        default=os.environ.get("DOSELEDGER_USER") or _os_user(),
        help="user id recorded on events (default: $DOSELEDGER_USER or login)",
    )
    parser.add_argument(
        "--role",
        default=os.environ.get("DOSELEDGER_ROLE", "admin"),
        choices=ROLES,
        help="role recorded on events; a command that records refuses a role the HTTP API "
        "refuses (default: $DOSELEDGER_ROLE or admin)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    design.add_commands(sub)
    projections.add_commands(sub)
    reports.add_commands(sub)
    rules.add_commands(sub)
    serve.add_commands(sub)
    reminders.add_commands(sub)
    reports.add_audit_export(audit.add_commands(sub))

    p = sub.add_parser("protocols", help="list templates, show one, or validate a protocol file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--show", metavar="TEMPLATE_ID", choices=TEMPLATE_IDS)
    group.add_argument("--validate", metavar="FILE")
    p.set_defaults(plain_handler=cmd_protocols)

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

    patients.add_commands(sub)
    return parser


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _fail(message: str) -> NoReturn:
    print(f"doseledger: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``doseledger`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.request_id = uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=args.request_id, command=args.command)
    if getattr(args, "check_args", None):
        args.check_args(parser, args)
    if (refused := refusal(args)) is not None:
        _fail(refused)  # separation of duties, as over HTTP: nothing opened, nothing recorded
    try:
        settings = Settings()
        configure_logging(os.environ.get("DOSELEDGER_LOG_LEVEL", "WARNING"))
        if getattr(args, "store_handler", None):
            args.store_handler(args, build_ledger(settings))
        else:
            args.plain_handler(args)
    except (InvalidInput, CommandRefused, NotFound, ConcurrencyConflict) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        error = exc.errors()[0]
        _fail(f"setting DOSELEDGER_{str(error['loc'][0]).upper()}: {error['msg']}")
    except DomainError as exc:
        _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    main()
