"""``doseledger projections``: rebuild, catch up, check and show the read models (``run``:
``adapters.cli.projection_worker``)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import PersistenceError

from adapters.bootstrap import build_read_models
from adapters.cli.common import fail, instant_arg, uuid_arg
from adapters.cli.projection_worker import register_run
from adapters.settings import Settings
from domain.errors import InvalidInput
from projections.read_models import ReadModels
from projections.runner import Progress

VIEWS = ("cohorts", "overview", "safety", "timeline", "audit")
EXIT_DIFFERENT = 1


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


@contextmanager
def open_read_models() -> Iterator[ReadModels]:
    """The read models of the configured store; database failures become one-line errors."""
    try:
        projections = build_read_models(Settings())
    except Exception as exc:
        if _is_store_error(exc):
            fail(f"cannot open the store: {_first_line(exc)}")
        raise
    try:
        yield projections
    except Exception as exc:
        if _is_store_error(exc):
            fail(f"store error: {_first_line(exc)}")
        raise
    finally:
        projections.close()


def _is_store_error(exc: Exception) -> bool:
    return isinstance(exc, PersistenceError | sqlite3.Error) or type(exc).__module__.startswith(
        "psycopg"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _progress(what: str) -> Iterator[Progress | None]:
    """A tqdm bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=what, unit="event", file=sys.stderr, dynamic_ncols=True) as bar:

        def update(processed: int, position: int, last: int) -> None:
            bar.total = max(last, position)
            bar.n = position
            bar.refresh()

        yield update


# ------------------------------------------------------------------ handlers


def cmd_rebuild(args: argparse.Namespace) -> None:
    with open_read_models() as projections, _progress("rebuild") as progress:
        _print(projections.rebuild(progress, workers=args.workers))


def cmd_catch_up(args: argparse.Namespace) -> None:
    with open_read_models() as projections, _progress("catch-up") as progress:
        result = projections.catch_up(progress)
        _print({**result, "positions": projections.positions()})


def cmd_check(args: argparse.Namespace) -> None:
    with open_read_models() as projections, _progress("check") as progress:
        report = projections.check(progress)
        _print(report.as_json())
    if not report.equal:
        raise SystemExit(EXIT_DIFFERENT)


def cmd_show(args: argparse.Namespace) -> None:
    if args.id is None and args.view != "overview":
        raise InvalidInput(
            f"projections show {args.view} needs an id "
            f"({'a patient' if args.view == 'timeline' else 'a trial'} id)",
            field="id",
        )
    if args.as_of is not None and args.view != "audit":
        raise InvalidInput("--as-of goes with 'audit' only", field="as_of")
    with open_read_models() as projections:
        if not args.no_catch_up:
            projections.catch_up()
        shows: dict[str, Callable[[], Any]] = {
            "cohorts": lambda: projections.queries.cohort_summary(args.id),
            "overview": lambda: (
                projections.queries.trial_overviews()
                if args.id is None
                else projections.queries.trial_overview(args.id)
            ),
            "safety": lambda: projections.queries.safety_table(args.id),
            "timeline": lambda: projections.queries.patient_timeline(args.id),
            "audit": lambda: projections.queries.audit_trail(args.id, args.as_of),
        }
        _print(shows[args.view]())


# ------------------------------------------------------------------ parser


def register(sub: Any) -> None:
    """Register ``projections`` and its subcommands on the top-level parser."""
    parser = sub.add_parser(
        "projections",
        help="read models: rebuild, catch up, check, show",
        description="Read models kept from the event log in the same database.",
    )
    psub = parser.add_subparsers(
        dest="projections_command", required=True, parser_class=type(parser)
    )
    p = psub.add_parser(
        "rebuild",
        help="drop every read model and rebuild it from the first event (JSON counts)",
    )
    p.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        help=(
            "2: follow the audit trail and the dose rows in a second process "
            "(default: 2 for big stores)"
        ),
    )
    p.set_defaults(plain_handler=cmd_rebuild)
    register_run(psub)
    p = psub.add_parser("catch-up", help="process the events recorded since the last run")
    p.set_defaults(plain_handler=cmd_catch_up)
    p = psub.add_parser(
        "check",
        help="rebuild into a scratch store and compare with the live read models "
        "(exit 1 on a difference)",
    )
    p.set_defaults(plain_handler=cmd_check)
    p = psub.add_parser("show", help="print a read model as JSON (after catching up)")
    p.add_argument("view", choices=VIEWS)
    p.add_argument(
        "id",
        nargs="?",
        type=uuid_arg,
        help="trial id (patient id for timeline; none: all overviews)",
    )
    p.add_argument("--as-of", type=instant_arg, help="audit: rows recorded up to this time (UTC)")
    p.add_argument(
        "--no-catch-up",
        action="store_true",
        help="show the read model as it is, without catching up",
    )
    p.set_defaults(plain_handler=cmd_show)
