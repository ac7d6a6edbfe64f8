"""``doseledger protocols``: the protocol templates, one of them in full, or a protocol file checked
before a trial is registered from it."""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.common import print_json
from domain.protocol import TEMPLATE_IDS, load_protocol_file, template


def cmd_protocols(args: argparse.Namespace) -> None:
    if args.validate:
        protocol = load_protocol_file(args.validate)
        print_json({"valid": True, "id": protocol.id, "levels": protocol.num_levels})
    elif args.show:
        print_json(template(args.show).model_dump(mode="json"))
    else:
        print_json([{"id": t, "title": template(t).title} for t in TEMPLATE_IDS])


def register(sub: Any) -> None:
    """Add ``protocols`` to the top-level parser."""
    p = sub.add_parser("protocols", help="list templates, show one, or validate a protocol file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--show", metavar="TEMPLATE_ID", choices=TEMPLATE_IDS)
    group.add_argument("--validate", metavar="FILE")
    p.set_defaults(plain_handler=cmd_protocols)
