"""CLI commands that read history: point-in-time replay, audit export, SDTM datasets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adapters.cli.common import instant_arg, uuid_arg
from adapters.services import DoseLedger
from domain.errors import InvalidInput
from projections.audit_report import FORMATS
from projections.sdtm import DOMAINS


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    path = Path(out)
    if not path.parent.is_dir():
        raise InvalidInput(f"--out: folder {path.parent} does not exist", field="out")
    path.write_text(text, encoding="utf-8")
    print(json.dumps({"written": str(path), "bytes": len(text.encode())}))


def cmd_replay(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Print the trial and its patients as recorded at --as-of (default: now)."""
    print(json.dumps(ledger.replay(args.trial_id, args.as_of), indent=2))


def cmd_audit_export(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's audit trail as csv, jsonl or html."""
    _write(ledger.audit_export(args.trial_id, args.format), args.out)


def cmd_export_sdtm(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's SDTM-style AE or EX dataset as CSV."""
    _write(ledger.sdtm(args.trial_id, args.domain), args.out)


def add_commands(sub: Any) -> None:
    """Add ``replay`` and ``export sdtm`` to the top-level parser."""
    p = sub.add_parser(
        "replay",
        help="the trial and its patients as recorded at an instant",
        description="Rebuild a trial and its patients from their events.",
    )
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument(
        "--as-of",
        type=instant_arg,
        metavar="TIMESTAMP",
        help="ISO 8601 instant, e.g. 2026-03-02T14:30:00Z (default: now)",
    )
    p.set_defaults(store_handler=cmd_replay)

    export = sub.add_parser("export", help="regulatory datasets")
    esub = export.add_subparsers(dest="export_command", required=True, parser_class=type(export))
    p = esub.add_parser("sdtm", help="CDISC SDTM-style AE or EX dataset as CSV")
    p.add_argument("--domain", choices=DOMAINS, required=True)
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(store_handler=cmd_export_sdtm)


def add_audit_export(audit_sub: Any) -> None:
    """Add ``audit export`` to the ``audit`` command group."""
    p = audit_sub.add_parser("export", help="the audit trail as csv, jsonl or html")
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(store_handler=cmd_audit_export)
