"""How long building an SRC packet takes, as a ratio to the cohort-summary query of the same
trial (the read model a committee would otherwise look at), for trials of 30 and 300 patients.

    .venv/bin/python scripts/bench_report.py [--patients 30,300] [--repeat 3]

Each trial is recorded through the ledger (``packet_samples.record_escalation``) in a throwaway
SQLite store, its read models caught up; then the best of ``--repeat`` runs of each: the packet
(replay of the trial and its patients, content, two matplotlib SVG plots, the page and its hash)
and ``cohort_summary`` (one read of the read model). Prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

from adapters.bootstrap import build_ledger
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from packet_samples import CLOCK_START, MovingClock, record_escalation, story_for
from projections.read_models import ReadModels
from projections.store import open_store


def best(run: Callable[[], Any], repeat: int) -> float:
    """The shortest of ``repeat`` timings of ``run``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(patients: int, repeat: int) -> dict[str, Any]:
    """Record a trial of about ``patients`` patients and time its packet and cohort summary."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = MovingClock()
        ledger = build_ledger(env=persistence_env(f"sqlite:///{tmp}/bench.db"), clock=clock)
        cohorts = story_for(patients)
        trial_id = record_escalation(
            ledger, cohorts, len(cohorts) + 1, clock.advance, CLOCK_START.date()
        )
        read_models = ReadModels(ledger, open_store(ledger.env))
        try:
            read_models.catch_up()
            ledger.src_packet(trial_id)  # matplotlib imported, fonts cached: not timed
            packet_s = best(lambda: ledger.src_packet(trial_id), repeat)
            summary_s = best(lambda: read_models.queries.cohort_summary(trial_id), repeat * 10)
            packet = ledger.src_packet(trial_id)
        finally:
            read_models.close()
            ledger.close()
    return {
        "patients": len(packet.content["lanes"]),
        "events": packet.content["binding"]["position"],
        "packet_ms": packet_s * 1000,
        "cohort_summary_ms": summary_s * 1000,
        "ratio": packet_s / summary_s,
        "bytes": len(packet.html.encode()),
    }


def main() -> None:
    """Print one line per trial size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="30,300")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING")
    for size in (int(n) for n in args.patients.split(",")):
        m = measure(size, args.repeat)
        print(
            f"{m['patients']:>4} patients, {m['events']:>6} events: packet {m['packet_ms']:8.1f} ms"
            f" ({m['bytes'] / 1024:.0f} KiB), cohort summary {m['cohort_summary_ms']:6.2f} ms,"
            f" ratio {m['ratio']:,.0f}x"
        )


if __name__ == "__main__":
    main()
