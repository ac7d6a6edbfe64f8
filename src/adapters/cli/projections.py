"""``doseledger projections``: rebuild, catch up, check and show the read models; list the
read models stopped by an event they could not process, and retry them after a fix (``run``:
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
from projections.queries import ReadModelQueries
from projections.read_models import ReadModels
from projections.runner import Progress

VIEWS = ("cohorts", "overview", "safety", "timeline", "audit")
EXIT_DIFFERENT = 1


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


@contextmanager
def open_read_models(*, fork_second_process: bool = False) -> Iterator[ReadModels]:
    """The read models of the configured store; database failures become one-line errors.
    ``fork_second_process``: for a rebuild that may run in two processes (``build_read_models``).
    """
    try:
        projections = build_read_models(Settings(), fork_second_process=fork_second_process)
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


@contextmanager
def caught_up(*uses: str) -> Iterator[ReadModelQueries]:
    """The queries of the configured store's read models, caught up; a one-line error (exit 2)
    when one of the read models ``uses`` names is stopped (its answer would be stale)."""
    with open_read_models() as read_models:
        read_models.catch_up()
        stopped = sorted(set(uses) & set(read_models.stopped()))
        if stopped:
            fail(
                f"read model {', '.join(stopped)} is stopped by an event it could not process: "
                "see doseledger projections failures"
            )
        yield read_models.queries


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
    with (
        open_read_models(fork_second_process=args.workers != 1) as projections,
        _progress("rebuild") as progress,
    ):
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


def cmd_failures(args: argparse.Namespace) -> None:
    with open_read_models() as projections:
        stopped = projections.stopped()
        _print(
            {
                "failures": [f.as_json() for f in projections.failures()],
                "stopped": [s.as_json() for s in stopped.values()],
            }
        )


def cmd_retry(args: argparse.Namespace) -> None:
    with open_read_models() as projections:
        if args.read_model is not None and args.read_model not in projections.names:
            raise InvalidInput(
                f"no read model {args.read_model!r}: one of {', '.join(projections.names)}",
                field="read_model",
            )
        failures = {f.read_model: f for f in projections.failures()}
        if args.read_model is not None and args.read_model not in failures:
            raise InvalidInput(f"read model {args.read_model} is not stopped", field="read_model")
        names = None if args.read_model is None else [args.read_model]
        retried = projections.retry(names)
        with _progress("retry") as progress:
            result = projections.catch_up(progress)
        again = [f.as_json() for f in projections.failures() if f.read_model in failures]
        _print(
            {
                "retried": [f.read_model for f in retried],
                "processed": result["processed"],
                "positions": projections.positions(),
                "failures": again,
            }
        )
    if again:
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
        help="read models: rebuild, catch up, check, show, failures, retry",
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
            "2: two processes, the audit trail and the dose rows in this one, the other "
            "read models in a second (default: 2 for big stores)"
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
    p = psub.add_parser(
        "failures",
        help="the read models stopped by an event they could not process (JSON), and those "
        "stopped with them",
    )
    p.set_defaults(plain_handler=cmd_failures)
    p = psub.add_parser(
        "retry",
        help="after a fix: feed stopped read models again from the failed event, catch up "
        "(exit 1 if one fails again)",
    )
    p.add_argument("--read-model", metavar="NAME", help="only this one (default: every one)")
    p.set_defaults(plain_handler=cmd_retry)
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
