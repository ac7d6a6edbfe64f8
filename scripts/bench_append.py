"""Benchmark events/s appended by DoseLedger.record_dlt_window_outcome against the bare library."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from tqdm import tqdm

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from bench_common import (
    add_backend_arguments,
    check_postgres_url,
    each_backend,
    ratio,
    store,
)
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.protocol import Protocol, template

TARGET = 0.5
EVENTS_PER_CALL = 2
PROTOCOL_ID = "defactinib-avutometinib"
INVESTIGATORS = {
    "S01": Actor(user_id="inv-s01", role="investigator", client="bench"),
    "S02": Actor(user_id="inv-s02", role="investigator", client="bench"),
}
REGISTRAR = Actor(user_id="bench-admin", role="admin", client="bench")
SRC_CHAIR = Actor(user_id="bench-src", role="src_member", client="bench")
# 80% no DLT, 10% DLT, 10% not evaluable, interleaved so every stretch of calls has the same mix.
MIX = ("no_dlt",) * 4 + ("dlt",) + ("no_dlt",) * 4 + ("not_evaluable",)
START = dt.date(2026, 1, 5)
# The ledgers' clock: a fixed instant after every clinical date recorded here (the latest is
# a no-DLT outcome on the window's last day, START + 29) and within the 730 days an
# enrolment date may lie before the site's today (sites use the protocol's default zone, UTC).
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
COHORT_SIZE = 3
# --history: cohorts each trial completes before the timed one, with the decision 3+3
# recommends for them (the template has 2 dose levels, so the second cohort expands level 2).
HISTORY: list[tuple[tuple[str, ...], str]] = [
    (("no_dlt", "no_dlt", "no_dlt"), "escalate"),
    (("no_dlt", "dlt", "no_dlt"), "expand"),
]

PRIMARY = "bare eventsourcing save"
SAME_SHAPE = "bare load 2 + save 2 (info)"
DOSELEDGER = "doseledger record_dlt_outcome"
BASELINE_NOTE = (
    f"'{PRIMARY}': per call, create a trivial Aggregate, trigger its one @event method and "
    "app.save() it - 2 events in 1 transaction, no reads (the issue's 'bare library saving a "
    "trivial aggregate'; same events per transaction as doseledger), on the same database with "
    "the library's own recorders, so doseledger's figure also pays for its audit chain. "
    f"'{SAME_SHAPE}': per call, load 2 existing trivial aggregates, trigger 1 event on each and "
    "save both in 1 transaction - the same read-modify-write shape as record_dlt_window_outcome, "
    "shown to separate domain cost from read cost."
)


class Tally(Aggregate):
    """The trivial aggregate of the bare-library baseline."""

    @event("Bumped")
    def bump(self) -> None:
        """Record one bump (no payload, no state: the cheapest event the library can save)."""


class Bare(Application[UUID]):
    """A plain eventsourcing application with the library's default settings."""

    name = "bare"


# ----------------------------------------------------------------- workloads


def progress(total: int, desc: str) -> tqdm[Any]:
    """A progress bar on stderr, silent when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit="call",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )


@dataclass
class Workload:
    """An application and its prepared calls, each of which appends EVENTS_PER_CALL events."""

    label: str
    name: str
    app: Application[UUID]
    steps: list[Callable[[], None]]
    seconds: float = 0.0
    calls: int = 0
    logged_at_start: int = 0


def _outcome_step(
    ledger: DoseLedger, patient_id: UUID, outcome: str, first_dose: dt.date, protocol: Protocol
) -> Callable[[], None]:
    """One record_dlt_window_outcome call with values the domain accepts for that outcome."""
    actor = INVESTIGATORS["S01"]
    if outcome == "no_dlt":
        # The window's last day: the earliest date a completed window can be recorded on.
        day = first_dose + dt.timedelta(days=protocol.dlt_window_days - 1)
        # No claimed dose share: the record's (every planned dose, no hold) is used.
        return lambda: ledger.record_dlt_window_outcome(patient_id, "no_dlt", day, actor)
    if outcome == "dlt":
        day = first_dose + dt.timedelta(days=14)
        return lambda: ledger.record_dlt_window_outcome(
            patient_id, "dlt", day, actor, description="CPK increased, grade 4, day 15"
        )
    day = first_dose + dt.timedelta(days=8)
    return lambda: ledger.record_dlt_window_outcome(
        patient_id, "not_evaluable", day, actor, reason="withdrew consent on day 9"
    )


def _ready_patient(ledger: DoseLedger, trial_id: UUID, number: int) -> tuple[UUID, dt.date]:
    """Enrol a patient, record the baseline exams and the first dose; returns id and date."""
    site = "S01" if number % 2 == 0 else "S02"
    investigator = INVESTIGATORS[site]
    # Enrolled on the baseline day (the default, the site's today, would refuse earlier exams).
    patient_id = ledger.enrol_patient(trial_id, site, investigator, enrolment_date=START)
    ledger.record_baseline_eye_exam(
        patient_id, START, "20/20", "20/25", investigator, slit_lamp_findings="no abnormality"
    )
    ledger.record_baseline_skin_exam(
        patient_id, START, "no pre-existing dermatologic conditions", investigator
    )
    first_dose = START + dt.timedelta(days=2)
    ledger.start_dosing(patient_id, first_dose, investigator)
    return patient_id, first_dose


def _record_history(ledger: DoseLedger, trial_id: UUID, cohorts: int, protocol: Protocol) -> None:
    """Run the trial through completed, SRC-decided cohorts, as a trial part-way through."""
    for number, (outcomes, decision) in enumerate(HISTORY[:cohorts], start=1):
        for k, outcome in enumerate(outcomes):
            patient_id, first_dose = _ready_patient(ledger, trial_id, k)
            _outcome_step(ledger, patient_id, outcome, first_dose, protocol)()
        ledger.sign_decision(trial_id, number, decision, SRC_CHAIR, meaning="approval")


def prepare_doseledger(url: str, total: int, backend: str, history: int) -> Workload:
    """Enrol, examine and start dosing ``total`` patients; each step records one's outcome."""
    ledger = build_ledger(env=persistence_env(url), clock=lambda: NOW)
    protocol = template(PROTOCOL_ID)
    steps: list[Callable[[], None]] = []
    # One trial per 3 patients: a cohort takes 3 patients, and more would need an SRC
    # decision (or a not-evaluable replacement) between outcomes, i.e. inside the timed loop.
    with progress(total, f"{backend} doseledger set-up") as bar:
        trial_id = uuid.UUID(int=0)
        for i in range(total):
            if i % COHORT_SIZE == 0:
                trial_id = ledger.register_trial(protocol, REGISTRAR, name=f"bench {i}")
                _record_history(ledger, trial_id, history, protocol)
            patient_id, first_dose = _ready_patient(ledger, trial_id, i)
            steps.append(_outcome_step(ledger, patient_id, MIX[i % len(MIX)], first_dose, protocol))
            bar.update()
    return Workload("doseledger", DOSELEDGER, ledger, steps)


def bare_env(url: str) -> dict[str, str]:
    """The same database and settings, but the library's own recorders (no audit chain)."""
    env = persistence_env(url)
    library = {
        "SQLITE_DBNAME": "eventsourcing.sqlite",
        "POSTGRES_DBNAME": "eventsourcing.postgres",
    }
    for variable, module in library.items():
        if variable in env:
            env["PERSISTENCE_MODULE"] = module
    return env


def prepare_bare(url: str, total: int, backend: str, history: int) -> Workload:
    """Each step creates a trivial aggregate, triggers one event and saves it."""
    app = Bare(env=bare_env(url))

    def step() -> None:
        tally = Tally()
        tally.bump()
        app.save(tally)

    return Workload("bare", PRIMARY, app, [step] * total)


def prepare_bare_same_shape(url: str, total: int, backend: str, history: int) -> Workload:
    """Each step loads two trivial aggregates, triggers one event on each, saves both at once."""
    app = Bare(env=bare_env(url))
    pairs: list[tuple[UUID, UUID]] = []
    with progress(total, f"{backend} bare set-up") as bar:
        for _ in range(total):
            # Two events each beforehand, near the size of a freshly dosed patient's history.
            first, second = Tally(), Tally()
            first.bump()
            second.bump()
            app.save(first, second)
            pairs.append((first.id, second.id))
            bar.update()

    def step_for(first_id: UUID, second_id: UUID) -> Callable[[], None]:
        def step() -> None:
            first: Tally = app.repository.get(first_id)
            second: Tally = app.repository.get(second_id)
            first.bump()
            second.bump()
            app.save(first, second)

        return step

    return Workload("bare_same_shape", SAME_SHAPE, app, [step_for(a, b) for a, b in pairs])


def run_interleaved(workloads: list[Workload], warmup: int, rounds: int, backend: str) -> None:
    """Warm each workload up, then time them in alternating slices so drift hits all alike."""
    for w in workloads:
        with progress(warmup, f"{backend} {w.label} warm-up") as bar:
            for step in w.steps[:warmup]:
                step()
                bar.update()
        w.logged_at_start = w.app.recorder.max_notification_id() or 0
    calls = len(workloads[0].steps) - warmup
    bounds = [warmup + calls * r // rounds for r in range(rounds + 1)]
    with progress(calls * len(workloads), f"{backend} timed") as bar:
        for lo, hi in itertools.pairwise(bounds):
            for w in workloads:
                chunk = w.steps[lo:hi]
                started = time.perf_counter()
                for step in chunk:
                    step()
                w.seconds += time.perf_counter() - started
                w.calls += len(chunk)
                bar.update(len(chunk))
    for w in workloads:
        got = (w.app.recorder.max_notification_id() or 0) - w.logged_at_start
        # A sanity check on the workload, not on timings: every credited event was stored.
        if got != EVENTS_PER_CALL * w.calls:
            raise RuntimeError(
                f"{w.name}: expected {EVENTS_PER_CALL * w.calls} events appended, found {got}"
            )


# ----------------------------------------------------------------- report


def rate(w: Workload) -> float:
    """Events appended per second in a workload's timed slices."""
    return EVENTS_PER_CALL * w.calls / w.seconds if w.seconds > 0 else 0.0


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run every workload on its own fresh store of one backend; returns its figures."""
    preparers: list[Callable[[str, int, str, int], Workload]] = [prepare_doseledger, prepare_bare]
    if args.same_shape:
        preparers.append(prepare_bare_same_shape)
    total = args.warmup + args.calls
    with ExitStack() as stack:
        workloads = []
        for prepare in preparers:
            label = prepare.__name__.removeprefix("prepare_")
            url = stack.enter_context(store(backend, label, args.postgres_url))
            workload = prepare(url, total, backend, args.history)
            stack.callback(workload.app.close)
            workloads.append(workload)
        run_interleaved(workloads, args.warmup, args.rounds, backend)
    by_label = {w.label: w for w in workloads}
    figures: dict[str, Any] = {
        w.label: {
            "workload": w.name,
            "calls": w.calls,
            "events": EVENTS_PER_CALL * w.calls,
            "seconds": round(w.seconds, 4),
            "events_per_second": round(rate(w), 1),
        }
        for w in workloads
    }
    figures["ratio"] = ratio(rate(by_label["doseledger"]), rate(by_label["bare"]))
    if "bare_same_shape" in by_label:
        figures["ratio_same_shape"] = ratio(
            rate(by_label["doseledger"]), rate(by_label["bare_same_shape"])
        )
    print_table(backend, workloads, figures)
    return figures


def print_table(backend: str, workloads: list[Workload], figures: dict[str, Any]) -> None:
    """Print one backend's figures as a fixed-width table."""
    row = "{:<9} {:<32} {:>6} {:>7} {:>8} {:>9}"
    print(row.format("backend", "workload", "calls", "events", "seconds", "events/s"))
    for w in workloads:
        print(
            row.format(
                backend,
                w.name,
                w.calls,
                EVENTS_PER_CALL * w.calls,
                f"{w.seconds:.2f}",
                f"{rate(w):.0f}",
            )
        )
    ratio = figures["ratio"]
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(
        f"{backend:<9} {'ratio (doseledger / bare)':<32} {ratio:>6.2f}   "
        f"(target >= {TARGET}: {verdict})"
    )
    if "ratio_same_shape" in figures:
        print(
            f"{backend:<9} {'ratio (doseledger / same shape)':<32} "
            f"{figures['ratio_same_shape']:>6.2f}   (info)"
        )
    print(flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Events/s for recording DLT-window outcomes through DoseLedger versus the "
        "bare eventsourcing library on the same kind of store; prints a table per backend and "
        "a final JSON line. Figures only: nothing is asserted about timings.",
        epilog=BASELINE_NOTE,
    )
    add_backend_arguments(parser)
    parser.add_argument(
        "--calls",
        type=int,
        default=2000,
        help="timed calls per workload (default 2000; 2 events per call)",
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="untimed calls before each timed loop (default 50)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="timed slices per workload, alternated between workloads so "
        "background load and disk-flush jitter hit all of them (default 10)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        choices=range(len(HISTORY) + 1),
        help="completed, SRC-decided cohorts each trial has before the timed cohort (default "
        "0); more history means more events to replay on every load of the trial",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DOSELEDGER_LOG_LEVEL", "WARNING"),
        help="doseledger's log level, as the CLI sets it (default $DOSELEDGER_LOG_LEVEL or "
        "WARNING); INFO adds a JSON line on stderr per save, so redirect stderr to measure it",
    )
    parser.add_argument(
        "--no-same-shape",
        dest="same_shape",
        action="store_false",
        help="skip the informational load-2-save-2 bare baseline",
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0 or not 1 <= args.rounds <= args.calls:
        parser.error("need --calls >= 1, --warmup >= 0 and 1 <= --rounds <= --calls")
    check_postgres_url(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the chosen backends and print the figures."""
    args = parse_args(argv)
    # As the CLI does: without it structlog's default logger prints every save to stdout.
    try:
        configure_logging(args.log_level)
    except InvalidInput as exc:
        print(f"bench_append: {exc}", file=sys.stderr)
        return 2
    mix = "/".join(str(MIX.count(o)) for o in ("no_dlt", "dlt", "not_evaluable"))
    print(
        f"doseledger append benchmark: {args.calls} timed calls per workload in "
        f"{args.rounds} alternating slices after {args.warmup} warm-up calls; "
        f"{args.history} completed cohort(s) per trial before the timed one; "
        f"outcome mix no_dlt/dlt/not_evaluable {mix} per {len(MIX)}; "
        f"log level {args.log_level.upper()}"
    )
    print(f"baseline: {BASELINE_NOTE}\n")
    report: dict[str, Any] = {
        "calls": args.calls,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "history_cohorts": args.history,
        "target": TARGET,
        "log_level": args.log_level.upper(),
        "baseline": PRIMARY,
    }
    report["backends"], _ = each_backend(args, lambda backend: run_backend(backend, args))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
