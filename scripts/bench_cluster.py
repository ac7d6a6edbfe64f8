"""Benchmark the local multi-instance deployment (``scripts/cluster start``) against one instance.

32 concurrent clients (threads, one kept-alive connection each) for ``--seconds`` per phase:

- write mix: POST /trials with an Idempotency-Key (admin), a new trial a request;
- read mix: GET /trials/{id} (a trial written before) and GET /trials?limit=20, alternately.

Each mix runs twice: spread over every instance of the cluster (round robin per client), and
against the first instance only. Printed: requests/s, p50/p99 latency, errors (any non-2xx or
transport error), and the scale-out ratio (cluster / one instance) of each mix.

What limits it: the eventsourcing library takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` on the
events table in every insert transaction (``eventsourcing/postgres.py``,
``lock_table_statements``), so one write commits at a time whatever the number of instances:
writes do not scale out; reads (read models and aggregates, no table lock) scale with the
instances until the cores run out. On a 2-core machine shared with the clients and PostgreSQL
itself, the clients' own CPU is part of the limit. Nothing is asserted about timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LIMIT = (
    "the library serialises inserts with LOCK TABLE ... IN EXCLUSIVE MODE per application "
    "(eventsourcing/postgres.py): writes commit one at a time however many instances run; "
    "reads take no table lock and scale until the cores (2 here, shared with the clients "
    "and PostgreSQL) run out"
)


NAME = ("--name", "bench_cluster")


def _key(env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "doseledger"), "keys", "create", "--role", "admin", *NAME],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(json.loads(out)["key"])


def run_phase(
    bases: list[str], clients: int, seconds: float, request: Callable[[httpx.Client, str], int]
) -> dict[str, float]:
    """``clients`` threads calling ``request`` for ``seconds``; the figures."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        mine: list[float] = []
        failed = 0
        with httpx.Client(timeout=30) as http:
            i = n
            while time.monotonic() < stop:
                base = bases[i % len(bases)]
                i += 1
                started = time.perf_counter()
                try:
                    ok = 200 <= request(http, base) < 300
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - started)
                failed += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase (default 60)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--base-port", type=int, default=int(os.environ.get("CLUSTER_BASE_PORT", 8101))
    )
    parser.add_argument("--instances", type=int, default=3)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.setdefault(
        "DOSELEDGER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/doseledger_cluster"
    )
    env.setdefault("DOSELEDGER_AUDIT_KEY", "local-cluster-audit-key-not-for-production")
    cluster = [f"http://127.0.0.1:{args.base_port + i}" for i in range(args.instances)]
    for base in cluster:
        try:
            httpx.get(f"{base}/healthz", timeout=2).raise_for_status()
        except httpx.HTTPError as exc:
            print(f"{base} is not up ({exc}): run scripts/cluster start first", file=sys.stderr)
            return 2
    auth = {"Authorization": f"Bearer {_key(env)}"}
    seed = httpx.post(
        f"{cluster[0]}/trials", headers=auth, json={"template_id": "defactinib-paclitaxel"}
    )
    trial = seed.json()["id"]

    def write(http: httpx.Client, base: str) -> int:
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        body = {"template_id": "defactinib-paclitaxel"}
        return http.post(f"{base}/trials", headers=headers, json=body).status_code

    def read(http: httpx.Client, base: str) -> int:
        path = f"/trials/{trial}" if time.perf_counter_ns() % 2 else "/trials?limit=20"
        return http.get(f"{base}{path}", headers=auth).status_code

    report: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{args.clients} clients, {args.seconds:g} s a phase; limit: {LIMIT}\n")
    print(f"{'mix':<6} {'target':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for mix, request in (("write", write), ("read", read)):
        for target, bases in ((f"{len(cluster)} instances", cluster), ("1 instance", cluster[:1])):
            figures = run_phase(bases, args.clients, args.seconds, request)
            report.setdefault(mix, {})[target] = figures
            print(
                f"{mix:<6} {target:<14} {figures['per_second']:>8.1f} {figures['p50_ms']:>8.1f} "
                f"{figures['p99_ms']:>8.1f} {figures['errors']:>7.0f}"
            )
    print()
    for mix, targets in report.items():
        many, one = targets.values()
        print(f"scale-out {mix}: {many['per_second'] / max(one['per_second'], 1e-9):.2f}x")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
