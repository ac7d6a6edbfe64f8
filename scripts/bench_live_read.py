"""How soon a live read model shows a write: the runner's wake-ups against the old 0.5 s poll.

A ``LiveReadModels`` follows the store (as in ``doseledger serve``) while a DoseLedger records
``--writes`` trials, one at a time. After each write returns (its commit done), a separate
connection polls the cohort summary read model (every ``--probe-ms``, without catching up) until
the trial shows, and the time it took is one sample. Two writers:

- ``same process``: the ledger the runner belongs to; its commit wakes the runner at once
  (``DoseLedger.after_commit``).
- ``other process``: a second DoseLedger on the same store, as another process would be; only
  PostgreSQL's NOTIFY (the recorder sends it on every insert) wakes the runner, or on SQLite the
  runner's slow poll (``SQLITE_POLL_SECONDS``).

Prints the median and p95 of each and the median's ratio to the old poll interval (0.5 s), for
SQLite and PostgreSQL. Target: on PostgreSQL, median < 100 ms for both writers.

Usage: ``.venv/bin/python scripts/bench_live_read.py [--backend sqlite|postgres|both]
[--writes N] [--postgres-url URL]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any
from uuid import UUID

from adapters.bootstrap import build_ledger, build_live_read_models
from adapters.logging import configure_logging
from adapters.settings import persistence_env
from bench_common import add_backend_arguments, backends, ratio, store
from domain.actors import Actor
from domain.errors import NotFound
from domain.protocol import template
from projections.queries import ReadModelQueries
from projections.store import open_store

OLD_POLL_SECONDS = 0.5
TARGET_MS = 100.0
TIMEOUT_SECONDS = 10.0
ADMIN = Actor(user_id="bench-admin", role="admin")


def shown_after(queries: ReadModelQueries, trial_id: UUID, probe: float) -> float:
    """Seconds until the cohort summary shows the trial (polled every ``probe`` seconds)."""
    start = time.perf_counter()
    while True:
        try:
            queries.cohort_summary(trial_id)
            return time.perf_counter() - start
        except NotFound:
            pass
        if time.perf_counter() - start > TIMEOUT_SECONDS:
            raise TimeoutError(f"the read model did not show trial {trial_id} in 10 s")
        time.sleep(probe)


def measure(url: str, writes: int, probe: float) -> dict[str, Any]:
    """Samples (ms) for both writers on one store."""
    env = persistence_env(url)
    protocol = template("defactinib-avutometinib")
    ledger = build_ledger(env=env)
    other = build_ledger(env=env)
    live = build_live_read_models(ledger)
    reader = open_store(env)
    queries = ReadModelQueries(reader, lambda: None)
    try:
        live.read_models.ensure_schema()
        live.follow()
        results: dict[str, Any] = {}
        for name, writer in (("same process", ledger), ("other process", other)):
            writer.register_trial(protocol, ADMIN, name="warm-up")
            time.sleep(0.3)
            samples = []
            for i in range(writes):
                trial_id = writer.register_trial(protocol, ADMIN, name=f"live {i}")
                samples.append(shown_after(queries, trial_id, probe) * 1000)
                time.sleep(0.02)  # writes apart: each sample is one write's latency
            samples.sort()
            median = statistics.median(samples)
            results[name] = {
                "writes": writes,
                "median_ms": round(median, 2),
                "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
                "max_ms": round(samples[-1], 2),
                "ratio_to_old_poll": ratio(median, OLD_POLL_SECONDS * 1000),
            }
        return results
    finally:
        live.close()
        reader.close()
        other.close()
        ledger.close()


def main() -> None:
    """Run the benchmark and print its figures (text, then one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_arguments(parser)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--probe-ms", type=float, default=1.0, help="read model poll (default 1)")
    args = parser.parse_args()
    configure_logging("WARNING")
    # A scratch store: PostgreSQL's audit chain needs a key (the suite's way, unless one is set).
    os.environ.setdefault("DOSELEDGER_AUDIT_KEY", "bench-live-read-audit-key-0123456789")
    report: dict[str, Any] = {"old_poll_ms": OLD_POLL_SECONDS * 1000, "target_ms": TARGET_MS}
    print(
        f"live read model latency: {args.writes} writes per writer, probe every {args.probe_ms} ms"
    )
    for backend in backends(args):
        with store(backend, "live_read", args.postgres_url) as url:
            results = measure(url, args.writes, args.probe_ms / 1000)
        report[backend] = results
        for writer, r in results.items():
            verdict = ""
            if backend == "postgres":
                verdict = "meets" if r["median_ms"] < TARGET_MS else "misses"
                verdict = f"  (target < {TARGET_MS:.0f} ms: {verdict})"
            print(
                f"  {backend:8} {writer:14} median {r['median_ms']:8.2f} ms  "
                f"p95 {r['p95_ms']:8.2f} ms  max {r['max_ms']:8.2f} ms  "
                f"x{r['ratio_to_old_poll']:.3f} of the old 0.5 s poll{verdict}"
            )
    print(json.dumps(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
