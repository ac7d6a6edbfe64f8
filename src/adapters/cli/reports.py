"""``doseledger replay`` and ``export sdtm``: a trial's history read back, as it stood at an
instant, or as the CDISC SDTM-style datasets a regulator is sent (the audit trail: ``audit``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adapters.application import DoseLedger
from adapters.cli.common import instant_arg, uuid_arg, write_output
from projections.sdtm import DOMAINS


def cmd_replay(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Print the trial and its patients as recorded at --as-of (default: now)."""
    print(json.dumps(ledger.replay(args.trial_id, args.as_of), indent=2))


def cmd_export_sdtm(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's SDTM-style AE or EX dataset as CSV."""
    write_output(ledger.sdtm(args.trial_id, args.domain), args.out)


def register(sub: Any) -> None:
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
