"""``doseledger audit``: the audit trail. ``verify`` checks the event store's tamper evidence (the
audit chain), ``export`` writes a trial's audit trail for an inspector (csv, jsonl or html)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from adapters.application import DoseLedger
from adapters.cli.common import uuid_arg, write_output
from adapters.cli.projections import caught_up
from adapters.persistence.audit_verifier import verify
from projections.audit_report import FORMATS

EXIT_FAULT = 1
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


def _head(text: str) -> str:
    if not _HASH.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a head hash (64 hex digits)")
    return text.lower()


def cmd_audit_verify(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Print ``{"ok", "events_checked", "head"[, "fault"]}``; exit 1 naming the fault on stderr."""
    result = verify(ledger.recorder, expect_head=args.expect_head)
    print(json.dumps(result.as_json()))
    if result.fault is not None:
        message = " ".join(result.fault.message.split())
        print(f"doseledger: audit verify: {result.fault.kind}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_FAULT)


def cmd_audit_export(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's audit trail as csv, jsonl or html."""
    with caught_up("audit_trail") as queries:
        trail = queries.audit_trail(args.trial_id)
    write_output(ledger.audit_export(args.trial_id, args.format, trail), args.out)


def register(sub: Any) -> None:
    """Add the ``audit`` group, ``verify`` and ``export``, to the top-level parser."""
    audit: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="tamper evidence of the event store",
        description="Check the audit chain that makes changed, removed or reordered events "
        "detectable.",
    )
    commands = audit.add_subparsers(dest="audit_command", required=True, parser_class=type(audit))
    p = commands.add_parser(
        "verify",
        help="check every stored event against the audit chain",
        description="Check every stored event against the audit chain. Exit 0 and print "
        '{"ok": true, "events_checked": N, "head": HASH} when intact; exit 1 with the fault '
        "(kind, aggregate, id and version) when not. Record the head outside the database to "
        "detect later removal of the newest events.",
    )
    p.add_argument(
        "--expect-head",
        type=_head,
        metavar="HASH",
        help="a head printed earlier: fail unless it is still a link of the verified chain",
    )
    p.set_defaults(store_handler=cmd_audit_verify)

    p = commands.add_parser("export", help="the audit trail as csv, jsonl or html")
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(store_handler=cmd_audit_export)
