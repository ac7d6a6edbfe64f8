"""What the CLI's command groups share: the parser class and one-line errors (exit 2), argparse
value types, the registration of a command that works on the store, the role a command that records
needs (``adapters.access``), the actor, and the output of an answer (JSON, or a file for --out)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn
from uuid import UUID

from adapters.access import Duty
from adapters.application import DoseLedger
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.trial.citations import check_packet_sha256

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line on stderr (exit 2) and never print the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def fail(message: str) -> NoReturn:
    """Refuse the command: one line on stderr, exit 2."""
    print(f"doseledger: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def store_command(
    sub: Any,
    name: str,
    handler: Callable[[argparse.Namespace, DoseLedger], None],
    help_: str,
    *,
    duty: Duty | None = None,
    **parser_options: Any,
) -> argparse.ArgumentParser:
    """Add a subcommand whose handler gets the parsed arguments and a ledger on the store; one
    that records names its ``duty``, which only the duty's roles may run (``requires``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, **parser_options
    )
    parser.set_defaults(store_handler=handler)
    if duty is not None:
        requires(parser, duty)
    return parser


def requires(parser: argparse.ArgumentParser, duty: Duty) -> None:
    """Only ``duty``'s roles (``adapters.access``: the HTTP routes' own sets) may run the command:
    ``main`` refuses any other --role before it opens the store (``refusal``)."""
    parser.set_defaults(duty=duty, duty_command=parser.prog.removeprefix("doseledger "))


def refusal(args: argparse.Namespace) -> str | None:
    """Why the command may not run with this --role (one line), or None when it may."""
    duty: Duty | None = getattr(args, "duty", None)
    return None if duty is None else duty.refusal(args.duty_command, args.role)


def actor(args: argparse.Namespace) -> Actor:
    """Who the command records as acting: --user/--role, client ``cli``, this run's request id."""
    return Actor(user_id=args.user, role=args.role, client="cli", request_id=args.request_id)


def print_json(data: Any) -> None:
    """Print an answer as JSON: a small object on one line, anything larger indented."""
    print(json.dumps(data, indent=None if isinstance(data, dict) and len(data) <= 3 else 2))


def write_output(text: str, out: str | None) -> None:
    """Write a dataset or a trail to stdout, or to the file --out names (printing what it wrote)."""
    if out is None:
        sys.stdout.write(text)
        return
    path = Path(out)
    if not path.parent.is_dir():
        raise InvalidInput(f"--out: folder {path.parent} does not exist", field="out")
    path.write_text(text, encoding="utf-8")
    print(json.dumps({"written": str(path), "bytes": len(text.encode())}))


def uuid_arg(text: str) -> UUID:
    """A trial, patient or key id."""
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a UUID") from None


def packet_sha256_arg(text: str) -> str:
    """The SHA-256 of an SRC packet, as its footer prints it (64 lowercase hex digits)."""
    try:
        check_packet_sha256(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def whole_arg(text: str) -> int:
    """A whole number (a grade, a count)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def date_arg(text: str) -> dt.date:
    """A clinical date, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def instant_arg(text: str) -> dt.datetime:
    """An ISO 8601 instant; without a UTC offset it is read as UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 timestamp (e.g. 2026-03-02T14:30:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def seconds_arg(text: str) -> int:
    """A scheduler interval: a whole number of seconds, 1 to 86400."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of seconds") from None
    if not 1 <= seconds <= 86_400:
        raise argparse.ArgumentTypeError(f"{seconds} seconds is outside 1-86400")
    return seconds
