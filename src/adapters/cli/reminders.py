"""CLI commands for scheduled follow-ups: ``reminders due`` (read only) and ``reminders tick``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from adapters.application import DoseLedger
from adapters.bootstrap import build_reminders
from adapters.cli.common import instant_arg
from domain.reminder_schedule import OpenReminder
from projections.failures import ReadModelStopped

EXIT_STOPPED = 1


def _print(reminders: list[OpenReminder]) -> None:
    print(json.dumps([r.as_record() for r in reminders], indent=2))


@contextmanager
def _index_running() -> Iterator[None]:
    """A stopped reminder index (``projections failures``): one line on stderr, exit 1."""
    try:
        yield
    except ReadModelStopped as exc:
        print(f"doseledger: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_STOPPED) from None


def cmd_due(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Print what a tick at --at would issue, changing nothing."""
    with build_reminders(ledger) as reminders, _index_running():
        _print(reminders.due(args.at))


def cmd_tick(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Fire what is due at --at and not yet issued; print what this tick issued."""
    with build_reminders(ledger) as reminders, _index_running():
        _print(reminders.tick(args.at))


def register(sub: Any) -> None:
    """Add ``reminders due`` and ``reminders tick`` to the top-level parser."""
    group = sub.add_parser("reminders", help="scheduled follow-ups: list what is due, fire it")
    rsub = group.add_subparsers(dest="reminders_command", required=True, parser_class=type(group))
    for name, handler, help_ in (
        ("due", cmd_due, "reminders due at an instant and not yet issued (changes nothing)"),
        ("tick", cmd_tick, "issue the reminders due at an instant, each once; print them"),
    ):
        p = rsub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--at",
            type=instant_arg,
            metavar="TIMESTAMP",
            help="ISO 8601 instant, e.g. 2026-03-02T14:30:00Z; no offset means UTC (default: now)",
        )
        p.set_defaults(store_handler=handler)
