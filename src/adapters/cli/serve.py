"""``doseledger serve`` and ``scheduler``: the long-running processes. ``serve`` runs the HTTP API
and, unless told not to, the periodic jobs (the reminders' tick); ``scheduler`` runs the jobs alone,
for a deployment that serves the API from processes of their own."""

from __future__ import annotations

import argparse
import os
from typing import Any
from uuid import UUID

from adapters.application import DoseLedger
from adapters.bootstrap import build_key_ring
from adapters.cli.common import actor, seconds_arg
from adapters.settings import Settings


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


def cmd_serve(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Run the API under uvicorn until interrupted."""
    import uvicorn

    from adapters.bootstrap import build_service
    from adapters.demo import record_demo_trial

    level = service_logging()
    base = f"http://{args.host}:{args.port}"
    if args.demo and ledger.recorder.max_notification_id() is None:
        trial_id = record_demo_trial(ledger)
        secret, _ = build_key_ring(ledger).issue("demo admin", "admin", None, actor(args))
        print(ledger.cohort_table(trial_id), "\n", flush=True)
        print(f"Recorded the demo trial {trial_id} on an empty store.")
        print(f"API docs: {base}/docs   (Authorize with this admin key, shown once: {secret})")
        print(f"  curl -H 'Authorization: Bearer {secret}' {base}/trials/{trial_id}", flush=True)
    elif args.demo and (demo_id := _demo_trial()) is not None:
        print(
            f"Demo trial {demo_id}. API docs: {base}/docs (make a key: doseledger keys "
            "create --role admin --name me)",
            flush=True,
        )
    else:
        print(f"API docs: {base}/docs", flush=True)
    if (where := audit_key_file(ledger)) is not None:
        print(
            f"Audit key: {where} (generated once, mode 0600; set DOSELEDGER_AUDIT_KEY to keep "
            "it elsewhere)",
            flush=True,
        )

    settings = Settings()
    service = build_service(
        settings,
        ledger=ledger,
        tick_seconds=_tick_seconds(args),
        with_scheduler=not args.no_scheduler,
        with_follower=settings.serve_follower and not args.no_follower,
    )
    uvicorn.run(
        service.app,
        host=args.host,
        port=args.port,
        log_level=level.lower(),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,  # open event streams must not hold up a shutdown
    )


def audit_key_file(ledger: DoseLedger) -> str | None:
    """The file the audit key was read from: a SQLite store without DOSELEDGER_AUDIT_KEY."""
    from adapters.persistence.audit_key import key_file
    from adapters.persistence.environment import AUDIT_KEY_VAR

    dbname = ledger.env.get("SQLITE_DBNAME")
    if ledger.env.get(AUDIT_KEY_VAR) or not dbname:
        return None
    path = key_file(dbname)
    return None if path is None else str(path)


def cmd_scheduler(args: argparse.Namespace, ledger: DoseLedger) -> None:
    """Run the periodic jobs (the reminders tick) in the foreground until SIGTERM or SIGINT."""
    from adapters.bootstrap import build_scheduler_process
    from adapters.scheduler import run_until_signalled

    service_logging()
    process = build_scheduler_process(ledger, tick_seconds=_tick_seconds(args))
    try:
        run_until_signalled(process.scheduler)
    finally:
        process.close()


def service_logging() -> str:
    """JSON logs of a long-running process, at INFO unless DOSELEDGER_LOG_LEVEL says otherwise."""
    from adapters.logging import configure_logging

    level = os.environ.get("DOSELEDGER_LOG_LEVEL", "INFO")
    configure_logging(level)
    return level


def _tick_seconds(args: argparse.Namespace) -> int:
    return int(args.tick_seconds or Settings().tick_seconds)


def _add_tick_seconds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tick-seconds",
        type=seconds_arg,
        metavar="N",
        help="seconds between two ticks of the scheduler (default: $DOSELEDGER_TICK_SECONDS or 60)",
    )


def register(sub: Any) -> None:
    """Add ``serve`` and ``scheduler`` to the top-level parser."""
    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument(
        "--demo",
        action="store_true",
        help="on an empty store, record the demo trial and print a key to try",
    )
    p.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not tick reminders in this process (a `doseledger scheduler` runs apart)",
    )
    p.add_argument(
        "--no-follower",
        action="store_true",
        help="no read-model follower in this process (a `doseledger projections run` worker "
        "keeps them; reads still catch up before answering); also DOSELEDGER_SERVE_FOLLOWER=false",
    )
    _add_tick_seconds(p)
    p.set_defaults(store_handler=cmd_serve)

    help_ = "tick reminders (and other periodic jobs) until SIGTERM/SIGINT, apart from serve"
    p = sub.add_parser("scheduler", help=help_, description=help_)
    _add_tick_seconds(p)
    p.set_defaults(store_handler=cmd_scheduler)


def _demo_trial() -> UUID | None:
    """The demo trial of a store that holds events, found in its read models."""
    from adapters.bootstrap import build_read_models
    from adapters.demo import find_demo_trial

    with build_read_models(Settings()) as read_models:
        read_models.catch_up()
        return find_demo_trial(read_models.queries)
