"""Benchmark a scheduler tick's search for due reminders against a plain indexed SQL query.

1. Builds (or, with ``--keep``, reuses) a SQLite store holding reminders for ``--patients``
   patients (100,000 by default): a template of trials (three patients each, recorded through
   ``DoseLedger``: baseline exams pending or done, dosing, grade 3 CPK holds, visual adverse
   events, DLT-window outcomes and cohorts awaiting the SRC's decision; first doses spread
   over a year) is cloned under fresh ids until the store holds that many patients, then the
   read models (the reminder index among them, ``projections.models.reminder_index``) catch up
   with every event (progress shown).
2. At several instants (from a few reminders due to a backlog of months) it times:
   - the tick's search: ``Reminders.search(at)``, exactly what ``tick`` runs before it fires
     anything (the index's catch-up check, the indexed query, and the follow-up eye exam of
     the cycle current at ``at`` for follow-ups whose own cycle is over);
   - the baseline: one plain SQL query for the same rows on the same index
     (``SELECT ... FROM rm_reminders WHERE state = 'open' AND due_at <= ?``, fetched as tuples),
   each the median of ``--repeats`` runs taken in turn (tick, query, tick, ...), checks both
   found the same number of reminders, and prints both times and the ratio (target: at most
   2). For reference it also prints ``Reminders.due(at)``: the same search with every row made
   a reminder object (a tick makes one only for each reminder it fires, which then costs a
   database write).

Usage: ``.venv/bin/python scripts/bench_reminders.py [--patients N] [--keep PATH] [--repeats R]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_reminders
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from bench_common import ratio, sqlite_store
from bench_projections import bar, clone_stories
from domain.actors import Actor
from domain.ae_report import AdverseEventReport
from domain.protocol import template
from domain.reminder_schedule import start_of
from projections.models.reminder_index import due_text

DEFAULT_PATIENTS = 100_000
TEMPLATE_TRIALS = 60  # 180 patients, each a copy apart
PATIENTS_PER_TRIAL = 3
TARGET_RATIO = 2.0
DAY0 = dt.date(2026, 1, 5)
ADMIN = Actor(user_id="bench-admin", role="admin")
INVESTIGATOR = Actor(user_id="bench-inv", role="investigator", name="Dr Bench")
# The template's clock: after its last clinical date (the last trial's AE onset, DAY0 + 364
# + 10) and within the 730 days an enrolment date may lie before the site's today.
NOW = dt.datetime.combine(DAY0 + dt.timedelta(days=400), dt.time(12), tzinfo=dt.UTC)
# First doses run from DAY0 for a year (a trial every 6 days): from a few due to a backlog.
INSTANTS = {
    "month 1": start_of(DAY0 + dt.timedelta(days=30)),
    "month 3": start_of(DAY0 + dt.timedelta(days=90)),
    "month 9": start_of(DAY0 + dt.timedelta(days=270)),
    "year 2": start_of(DAY0 + dt.timedelta(days=400)),
}


def record_template(ledger: DoseLedger) -> int:
    """Trials of three patients in varied states; returns the patients recorded."""
    protocol = template("defactinib-avutometinib")
    patients = 0
    for t in range(TEMPLATE_TRIALS):
        start = DAY0 + dt.timedelta(days=6 * t)
        trial_id = ledger.register_trial(protocol, ADMIN, name=f"bench trial {t}")
        ids = [
            ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=start)
            for _ in range(3)
        ]
        patients += len(ids)
        if t % 4 == 0:
            continue  # screening: baseline eye exams due
        for pid in ids:
            ledger.record_baseline_eye_exam(pid, start, "20/20", "20/20", INVESTIGATOR)
            ledger.record_baseline_skin_exam(pid, start, "none", INVESTIGATOR)
            ledger.start_dosing(pid, start, INVESTIGATOR)
        cpk, eyes, _ = ids
        day = start + dt.timedelta(days=10)
        report = AdverseEventReport(
            term="CPK increased", grade=3, onset=day, attribution="unrelated"
        )
        ae_id = UUID(ledger.record_adverse_event(cpk, report, INVESTIGATOR)["ae_id"])
        ledger.record_dose_action(cpk, "hold", day, INVESTIGATOR, ae_id=ae_id)
        visual = AdverseEventReport(
            term="Blurred vision",
            grade=None,
            onset=day,
            attribution="unrelated",
            eye="left",
            bcva="20/50",
        )
        ledger.record_adverse_event(eyes, visual, INVESTIGATOR)
        if t % 4 == 1:
            # The CPK recovers to grade 1 three days on and dosing resumes: a hold over the
            # rest of the window would leave under 75% of planned doses (not evaluable).
            back = day + dt.timedelta(days=3)
            ledger.change_ae_grade(cpk, ae_id, 1, back, INVESTIGATOR)
            ledger.record_dose_action(cpk, "resume", back, INVESTIGATOR)
            for pid in ids:  # the cohort fully evaluated: the SRC's decision due
                ledger.record_dlt_window_outcome(
                    pid, "no_dlt", start + dt.timedelta(days=27), INVESTIGATOR
                )
    return patients


def build(url: str, wanted_patients: int, seed: int) -> None:
    ledger = build_ledger(env=persistence_env(url), clock=lambda: NOW)
    try:
        per_copy = record_template(ledger)
        head = ledger.recorder.max_notification_id() or 0
        copies = max(0, -(-wanted_patients // per_copy) - 1)
        print(f"template: {per_copy} patients in {head} events; cloning it {copies} times")
        if copies:
            clone_stories(ledger, head, head * copies, seed)
    finally:
        ledger.close()


def catch_up(url: str) -> int:
    ledger = build_ledger(env=persistence_env(url))
    try:
        head = ledger.recorder.max_notification_id() or 0
        # The reminder index is fed by the process's one runner, with every other read model.
        with build_reminders(ledger) as reminders, bar(head, "read models catching up") as progress:
            read_models = reminders.index.read_models
            started = time.perf_counter()
            result = read_models.catch_up(lambda n, at, last: progress.update(n - progress.n))
            done = int(result["processed"])
            if done:
                rate = done / (time.perf_counter() - started)
                print(f"read models: caught up {done} events ({rate:,.0f} events/s)")
            with read_models.store.snapshot() as tx:
                row = tx.fetchone("SELECT COUNT(*), COUNT(DISTINCT patient_id) FROM rm_reminders")
        assert row is not None
        print(f"reminders in the index: {row[0]:,} for {row[1]:,} patients")
        return int(row[1])
    finally:
        ledger.close()


def timed_ms(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    found = run()
    return (time.perf_counter() - started) * 1000, found


def median_ms(run: Callable[[], int], repeats: int) -> tuple[float, int]:
    runs = [timed_ms(run) for _ in range(repeats)]
    return statistics.median(ms for ms, _ in runs), runs[-1][1]


def paired_median_ms(
    first: Callable[[], int], second: Callable[[], int], repeats: int
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Both medians, the two run in turn: a spell of the machine's slows both alike."""
    pairs = [(timed_ms(first), timed_ms(second)) for _ in range(repeats)]
    return (
        (statistics.median(a[0] for a, _ in pairs), pairs[-1][0][1]),
        (statistics.median(b[0] for _, b in pairs), pairs[-1][1][1]),
    )


def measure(url: str, repeats: int) -> list[dict[str, Any]]:
    ledger = build_ledger(env=persistence_env(url))
    results = []
    try:
        with build_reminders(ledger) as reminders:
            store = reminders.index.read_models.store
            plain = (
                f"SELECT reminder_id, kind, trial_id, patient_id, due_at, detail "
                f"FROM {store.qualified('reminders')} WHERE state = 'open' AND due_at <= ?"
            )
            for label, at in INSTANTS.items():

                def tick_search(at: dt.datetime = at) -> int:
                    return len(reminders.search(at))

                def due_objects(at: dt.datetime = at) -> int:
                    return len(reminders.due(at))

                def baseline(at: dt.datetime = at) -> int:
                    with store.snapshot() as tx:
                        return len(tx.fetchall(plain, (due_text(at),)))

                tick_search()  # warm both (caches, pages)
                baseline()
                (tick_ms, tick_found), (sql_ms, sql_found) = paired_median_ms(
                    tick_search, baseline, repeats
                )
                objects_ms, _ = median_ms(due_objects, repeats)
                results.append(
                    {
                        "instant": f"{label} ({at.date()})",
                        "tick_ms": tick_ms,
                        "tick_found": tick_found,
                        "sql_ms": sql_ms,
                        "sql_found": sql_found,
                        "ratio": ratio(tick_ms, sql_ms),
                        "objects_ms": objects_ms,
                    }
                )
    finally:
        ledger.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=DEFAULT_PATIENTS)
    parser.add_argument("--keep", help="SQLite file to build once and reuse")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    random.seed(args.seed)
    with sqlite_store("reminders", keep=args.keep) as url:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            print(f"building a store with reminders for {args.patients:,} patients at {path}")
            build(url, args.patients, args.seed)
        else:
            print(f"reusing the store at {path}")
        patients = catch_up(url)
        results = measure(url, args.repeats)
    print(
        f"\nOne tick's search for due reminders, {patients:,} patients (median of {args.repeats}):"
    )
    print(
        f"{'instant':<24}{'tick (ms)':>10}{'found':>9}{'plain SQL (ms)':>15}{'rows':>9}"
        f"{'ratio':>7}{'as objects (ms)':>17}"
    )
    worst = 0.0
    for r in results:
        print(
            f"{r['instant']:<24}{r['tick_ms']:>10.2f}{r['tick_found']:>9,}{r['sql_ms']:>15.2f}"
            f"{r['sql_found']:>9,}{r['ratio']:>7.2f}{r['objects_ms']:>17.1f}"
        )
        worst = max(worst, r["ratio"])
        if r["tick_found"] != r["sql_found"]:
            print("  (the tick found another number of reminders than the rows: see above)")
    verdict = "met" if worst <= TARGET_RATIO else "NOT met"
    print(f"\nworst ratio tick / plain SQL: {worst:.2f} (target <= {TARGET_RATIO}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
