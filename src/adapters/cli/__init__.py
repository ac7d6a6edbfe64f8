"""The ``doseledger`` command line: the top-level parser, its command groups, and ``main``.

Each group module adds its commands in ``register(sub)`` and sets each command's handler as a
parser default: ``store_handler(args, ledger)`` for a command on the configured store (``main``
opens it), ``plain_handler(args)`` for one that needs no store or opens what it needs itself. A
handler parses nothing and calls one service function; ``main`` refuses a role the command's duty
does not admit before anything is opened, and turns a refusal into one line on stderr, exit 2.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from uuid import uuid4

import structlog
from pydantic import ValidationError

from adapters.bootstrap import build_ledger
from adapters.cli import (
    audit,
    design,
    designs,
    keys,
    patients,
    projections,
    protocols,
    reminders,
    reports,
    rules,
    serve,
    trials,
)
from adapters.cli.common import Parser, fail, refusal
from adapters.logging import configure_logging
from adapters.settings import Settings
from domain.actors import ROLES
from domain.errors import DomainError

# The command groups, in the order the top-level help lists their commands.
GROUPS = (
    design,
    designs,
    projections,
    reports,
    rules,
    serve,
    keys,
    reminders,
    audit,
    protocols,
    trials,
    patients,
)


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
    for group in GROUPS:
        group.register(sub)
    return parser


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``doseledger`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.request_id = uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=args.request_id, command=args.command)
    if getattr(args, "check_args", None):
        args.check_args(parser, args)
    if (refused := refusal(args)) is not None:
        fail(refused)  # separation of duties, as over HTTP: nothing opened, nothing recorded
    try:
        settings = Settings()
        configure_logging(os.environ.get("DOSELEDGER_LOG_LEVEL", "WARNING"))
        if getattr(args, "store_handler", None):
            args.store_handler(args, build_ledger(settings))
        else:
            args.plain_handler(args)
    except DomainError as exc:  # a refusal, bad input, not found, a conflict
        fail(str(exc))
    except ValidationError as exc:  # of the settings
        error = exc.errors()[0]
        fail(f"setting DOSELEDGER_{str(error['loc'][0]).upper()}: {error['msg']}")
