"""``doseledger replay``, ``export sdtm`` and ``report src-packet``: a trial's history read back,
as it stood at an instant, as the CDISC SDTM-style datasets a regulator is sent (the audit trail:
``audit``), or as the safety review committee's packet."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from adapters.application import DoseLedger
from adapters.cli.common import instant_arg, uuid_arg, write_output
from domain.errors import InvalidInput
from projections.sdtm import DOMAINS
from projections.src_packet.html import PAPERS


def cmd_replay(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Print the trial and its patients as recorded at --as-of (default: now)."""
    print(json.dumps(ledger.replay(args.trial_id, args.as_of), indent=2))


def cmd_export_sdtm(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's SDTM-style AE or EX dataset as CSV."""
    write_output(ledger.sdtm(args.trial_id, args.domain), args.out)


def cmd_report_src_packet(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Write the trial's SRC packet (HTML) to --out; print where, its SHA-256 and binding."""
    path = Path(args.out)
    if not path.parent.is_dir():
        raise InvalidInput(f"--out: folder {path.parent} does not exist", field="out")
    packet = ledger.src_packet(args.trial_id, args.as_of, paper=args.paper)
    path.write_text(packet.html, encoding="utf-8")
    binding = packet.content["binding"]
    print(
        json.dumps(
            {
                "written": str(path),
                "bytes": len(packet.html.encode()),
                "sha256": packet.sha256,
                "position": binding["position"],
                "chain_head": binding["chain_head"],
            }
        )
    )


def register(sub: Any) -> None:
    """Add ``replay``, ``export sdtm`` and ``report src-packet`` to the top-level parser."""
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

    report = sub.add_parser("report", help="reports for people: the SRC packet")
    rsub = report.add_subparsers(dest="report_command", required=True, parser_class=type(report))
    p = rsub.add_parser(
        "src-packet",
        help="the safety review committee's packet of a trial, as one HTML file",
        description="Write the packet a dose-escalation meeting reads: state, plots, listings, "
        "the recommendation and its rule, bound to the record (log position, audit-chain head) "
        "and carrying its own SHA-256, which a decision may cite (trial decide --packet-sha256).",
    )
    p.add_argument("trial_id", type=uuid_arg)
    p.add_argument(
        "--as-of",
        type=instant_arg,
        metavar="TIMESTAMP",
        help="the record as it stood at this ISO 8601 instant (default: the latest record)",
    )
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--paper", choices=tuple(PAPERS), default="a4", help="printed page size")
    p.set_defaults(store_handler=cmd_report_src_packet)
