"""``doseledger keys``: issue, revoke and list the HTTP API's keys. Keys have no HTTP route: an
admin who holds the store manages them on the console."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adapters.access import KEY_MANAGEMENT
from adapters.application import DoseLedger
from adapters.application.api_keys import KEY_ROLES
from adapters.bootstrap import build_key_ring
from adapters.cli.common import actor, requires
from adapters.cli.projections import caught_up


def cmd_keys_create(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Issue a key and print it once."""
    secret, view = build_key_ring(ledger).issue(args.name, args.key_role, args.site, actor(args))
    print(json.dumps({**view, "key": secret, "note": "shown once: store it now"}))


def cmd_keys_revoke(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Revoke a key by id."""
    print(json.dumps(build_key_ring(ledger).revoke(args.key_id, args.reason, actor(args))))


def cmd_keys_list(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """List keys (never their secrets)."""
    with caught_up("aggregate_index") as queries:
        ids = queries.aggregate_ids("api_key")
    print(json.dumps(build_key_ring(ledger).list(ids), indent=2))


def register(sub: Any) -> None:
    """Add the ``keys`` group to the top-level parser."""
    keys = sub.add_parser(
        "keys",
        help="create, revoke and list API keys",
        description="Create and revoke API keys as an admin (doseledger --role admin keys ...; "
        "admin is the default role), list them with any role. The --role of 'keys create' is "
        "the new key's role.",
    )
    ksub = keys.add_subparsers(dest="keys_command", required=True, parser_class=type(keys))
    p = ksub.add_parser("create", help="issue a key (printed once)")
    p.add_argument("--role", dest="key_role", choices=KEY_ROLES, required=True)
    p.add_argument("--site", help="the site of an investigator key")
    p.add_argument("--name", required=True, help="who or what uses the key")
    p.set_defaults(store_handler=cmd_keys_create)
    requires(p, KEY_MANAGEMENT)
    p = ksub.add_parser("revoke", help="revoke a key")
    p.add_argument("key_id")
    p.add_argument("--reason", default="revoked by an administrator")
    p.set_defaults(store_handler=cmd_keys_revoke)
    requires(p, KEY_MANAGEMENT)
    p = ksub.add_parser("list", help="list keys")
    p.set_defaults(store_handler=cmd_keys_list)
