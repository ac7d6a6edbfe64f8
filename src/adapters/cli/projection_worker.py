"""``doseledger projections run``: keep the read models current in a process of their own.

For a deployment of several API processes: one worker follows the log (woken by PostgreSQL's
NOTIFY of every commit, whichever process made it) and feeds every read model, the webhook
outbox among them, with ``LiveReadModels.follow`` (the runner ``serve`` uses). The API
processes then run with ``serve --no-follower``: no follower thread and no LISTEN connection
each, and a read still catches up with what is newer before it answers (read-your-writes),
which the worker has mostly done already. SIGTERM or SIGINT stops it after the batch in hand.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any

import structlog

from adapters.application import DoseLedger
from adapters.cli.common import seconds_arg

log = structlog.get_logger("doseledger.projections")
REPORT_SECONDS = 60.0
"""How often the worker logs its positions (one line; a lag shows as a position behind)."""


def cmd_run(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Follow the log and feed the read models until SIGTERM or SIGINT."""
    from adapters.bootstrap import build_live_read_models
    from adapters.cli.serve import service_logging

    service_logging()
    stop = threading.Event()

    def stopping(signum: int, _: FrameType | None) -> None:
        # A second signal stops at once (the default action): a catch-up that hangs.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        log.info("projection worker stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGTERM, signal.SIGINT)}
    live = build_live_read_models(ledger)
    try:
        live.follow(poll_seconds=args.poll_seconds)
        log.info("projection worker started", positions=live.positions())
        while not stop.wait(REPORT_SECONDS):
            log.info("projection worker positions", positions=live.positions())
    finally:
        live.close()
        ledger.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("projection worker stopped")


def register_run(psub: Any) -> None:
    """Add ``run`` to the ``projections`` subcommands."""
    help_ = (
        "keep the read models current until SIGTERM/SIGINT (a worker beside serve --no-follower)"
    )
    p = psub.add_parser("run", help=help_, description=help_)
    p.add_argument(
        "--poll-seconds",
        type=seconds_arg,
        metavar="S",
        help="look for new events this often without a wake-up (default: 5 on PostgreSQL, "
        "whose NOTIFY wakes it at once; 0.5 on SQLite)",
    )
    p.set_defaults(store_handler=cmd_run)
