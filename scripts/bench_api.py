"""Benchmark recording adverse events over HTTP (a real ``doseledger serve``) against in-process.

Two workloads, each on its own fresh store of the same backend, with the same set-up and the
same requests:

- HTTP: ``doseledger serve`` runs as a separate process on a free loopback port; N client
  threads (one kept-alive ``http.client`` connection each) POST
  /patients/{id}/adverse-events with an investigator key.
- in-process: the same N threads make the same command in process as the CLI's ``patient ae``
  does: the body validated by the route's own schema, the route's command function
  (``adapters.patient_commands.record_adverse_event``) and its answer (the patient's state and
  what the command returned), in one unit of work. So the ratio is what HTTP costs over the
  same command: transport, framework, the key, site scoping and the process's read models.
- in-process, record only (info, since issue 13): ``DoseLedger.record_adverse_event`` alone,
  the baseline before: it builds no answer, which both entrypoints do.

Every request records a grade-1 AE that is neither a DLT nor needs a dose action (the
recommendation is "continue"), of a term the patient has no open AE of: each patient takes
``--aes-per-patient`` AEs of different terms, one term after the other. Each client thread
has its own patients, so no two requests race for one aggregate. Set-up (trials, enrolment,
baseline exams, first dose, the key) is not timed. The workloads are timed in alternating
slices, so background load and disk-flush jitter hit both alike. Figures are printed as
requests/s, p50/p99 latency and the ratio HTTP / in-process of requests/s; any non-2xx
answer or exception is counted as an error and printed. "cpu ms/req" is the CPU time per
request of the server plus the clients' process (HTTP) or of the one process (in-process),
read from /proc (PostgreSQL's own CPU is in neither). Nothing is asserted about timings.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import itertools
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from tqdm import tqdm

from adapters import patient_commands
from adapters.application import DoseLedger, UnitOfWork
from adapters.bootstrap import build_key_ring, build_ledger
from adapters.clock import starting_at
from adapters.http.schemas import AdverseEventBody
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
from domain.ae_report import AdverseEventReport
from domain.errors import InvalidInput
from domain.protocol import template

TARGET = 0.5
PROTOCOL_ID = "defactinib-avutometinib"
SITE = "S01"
COHORT_SIZE = 3  # a trial's open cohort takes 3 patients without an SRC decision
START = dt.date(2026, 1, 5)
FIRST_DOSE = START + dt.timedelta(days=2)
# What time it is for both workloads (the server's DOSELEDGER_CLOCK_START, the in-process
# ledgers' clock): after every clinical date recorded here (the latest AE onset is
# FIRST_DOSE + 20) and within the 730 days an enrolment date may lie before the site's today.
CLOCK_START = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
# Grade 1 of each: no DLT, recommendation "continue" (checked against the demo protocol).
TERMS = (
    "Fatigue",
    "Nausea",
    "Headache",
    "Constipation",
    "Dizziness",
    "Insomnia",
    "Arthralgia",
    "Myalgia",
    "Cough",
    "Pruritus",
    "Dry skin",
    "Alopecia",
    "Dysgeusia",
    "Back pain",
    "Hiccups",
    "Dry mouth",
    "Dyspepsia",
    "Anxiety",
    "Flatulence",
    "Chills",
)
INVESTIGATOR = Actor(user_id="bench-inv-s01", role="investigator", client="bench")
REGISTRAR = Actor(user_id="bench-admin", role="admin", client="bench")
HTTP = "HTTP (doseledger serve)"
IN_PROCESS = "in-process command + answer (as CLI)"
RECORD_ONLY = "in-process record_adverse_event only"
SERVE_START_SECONDS = 60.0
SETTLE_SECONDS = 1.0  # the store's head unchanged this long: the start-up tick is done
REQUEST_TIMEOUT_SECONDS = 30.0


class BenchError(Exception):
    """The benchmark could not run (the server did not start, the workload was wrong)."""


@dataclass(frozen=True)
class Step:
    """One AE to record: the patient, the term, the onset."""

    patient_id: UUID
    term: str
    onset: dt.date

    def body(self) -> dict[str, Any]:
        """The request body of POST /patients/{id}/adverse-events."""
        return {
            "term": self.term,
            "grade": 1,
            "onset": self.onset.isoformat(),
            "attribution": "unlikely",
        }

    def report(self) -> AdverseEventReport:
        """The same AE as the in-process command's argument."""
        return AdverseEventReport(term=self.term, grade=1, onset=self.onset, attribution="unlikely")


@dataclass
class Workload:
    """A way to record one step (returns an error text, or None), and its figures."""

    label: str
    name: str
    record: Callable[[int, Step], str | None]
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    warmup_errors: int = 0
    plan: list[list[Step]] = field(default_factory=list)
    # Cumulative CPU seconds of the processes doing this workload's work (Linux), and the
    # share of it spent in the timed slices.
    cpu: Callable[[], float | None] = time.process_time
    cpu_seconds: float | None = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# ----------------------------------------------------------------- set-up (untimed)


def progress(total: int, desc: str) -> tqdm[Any]:
    """A progress bar on stderr, silent when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit="req",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )


def patients_needed(args: argparse.Namespace) -> int:
    """Enough patients for warm-up and timed requests, the same number per client."""
    per_client = math.ceil((args.warmup + args.requests) / args.clients)
    return args.clients * math.ceil(per_client / args.aes_per_patient)


def prepare_store(url: str, patients: int, desc: str) -> tuple[list[UUID], str]:
    """Trials of 3 patients, each enrolled, examined and dosed; and an investigator key."""
    ledger = build_ledger(env=persistence_env(url), clock=starting_at(CLOCK_START))
    protocol = template(PROTOCOL_ID)
    patient_ids = []
    try:
        with progress(patients, desc) as bar:
            trial_id = UUID(int=0)
            for i in range(patients):
                if i % COHORT_SIZE == 0:
                    trial_id = ledger.register_trial(protocol, REGISTRAR, name=f"bench {i}")
                patient_id = ledger.enrol_patient(
                    trial_id, SITE, INVESTIGATOR, enrolment_date=START
                )
                ledger.record_baseline_eye_exam(
                    patient_id, START, "20/20", "20/25", INVESTIGATOR, slit_lamp_findings="none"
                )
                ledger.record_baseline_skin_exam(patient_id, START, "no findings", INVESTIGATOR)
                ledger.start_dosing(patient_id, FIRST_DOSE, INVESTIGATOR)
                patient_ids.append(patient_id)
                bar.update()
        secret, _ = build_key_ring(ledger).issue("bench", "investigator", SITE, REGISTRAR)
    finally:
        ledger.close()
    return patient_ids, secret


def plan(patient_ids: list[UUID], clients: int, aes_per_patient: int) -> list[list[Step]]:
    """Each client's steps: its own patients, one term for each of them, then the next term."""
    plans: list[list[Step]] = []
    for c in range(clients):
        mine = patient_ids[c::clients]
        plans.append(
            [
                Step(patient_id, TERMS[k], FIRST_DOSE + dt.timedelta(days=1 + k))
                for k in range(aes_per_patient)
                for patient_id in mine
            ]
        )
    return plans


def count_aes(url: str, patient_ids: list[UUID]) -> int:
    """How many AEs the store holds for these patients (a sanity check of the workload)."""
    ledger = build_ledger(env=persistence_env(url))
    try:
        return sum(len(ledger.patient(p)["adverse_events"]) for p in patient_ids)
    finally:
        ledger.close()


# ----------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _doseledger_command() -> list[str]:
    beside = Path(sys.executable).with_name("doseledger")
    found = str(beside) if beside.exists() else shutil.which("doseledger")
    if found is None:
        raise BenchError("the doseledger command is not installed (pip install -e .)")
    return [found]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(url: str, log_level: str, log_path: Path) -> Iterator[tuple[str, int]]:
    """``doseledger serve`` on a free loopback port over the store; yields its URL and pid."""
    port = _free_port()
    env = {
        **os.environ,
        "DOSELEDGER_DATABASE_URL": url,
        "DOSELEDGER_LOG_LEVEL": log_level,
        "DOSELEDGER_CLOCK_START": CLOCK_START.isoformat(),
    }
    command = [*_doseledger_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVE_START_SECONDS
        while True:
            if process.poll() is not None:
                raise BenchError(f"doseledger serve exited:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"doseledger serve did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        settle(base, deadline)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def settle(base: str, deadline: float) -> None:
    """Wait until the server's start-up work is done: its read models have caught up with the
    set-up's events and its scheduler's first tick (at once on start) has issued the reminders
    due at the clock's start, i.e. /readyz says no lag and the store's head has not moved for
    a second. Neither is a request's cost, and the in-process workload does neither."""
    last, still_since = -1, time.monotonic()
    while True:
        body = httpx.get(f"{base}/readyz", timeout=5.0).json()
        position = int(body.get("position", -1))
        now = time.monotonic()
        if position != last or body.get("read_model_lag") != 0:
            last, still_since = position, now
        elif now - still_since >= SETTLE_SECONDS:
            return
        if now > deadline:
            raise BenchError(f"doseledger serve did not settle: {body}")
        time.sleep(0.1)


# ----------------------------------------------------------------- workloads


def http_workload(
    base: str, server_pid: int, secret: str, clients: int, stack: ExitStack
) -> Workload:
    """POST /patients/{id}/adverse-events, one kept-alive ``http.client`` connection per client.

    The standard library's client, not httpx: on this 2-core machine the clients share the
    CPU with the server, and httpx spends several times more of it per request (the figures
    are the server's, so the load generator should take as little as it can).
    """
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    connections = []
    for _ in range(clients):
        connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_SECONDS
        )
        stack.callback(connection.close)
        connections.append(connection)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def record(client: int, step: Step) -> str | None:
        connection = connections[client]
        try:
            connection.request(
                "POST",
                f"/patients/{step.patient_id}/adverse-events",
                body=json.dumps(step.body()),
                headers=headers,
            )
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # the next request opens a new connection
            return f"{type(exc).__name__}: {exc}"
        if not 200 <= response.status < 300:
            return f"{response.status}: {answer[:200].decode(errors='replace')}"
        return None

    def cpu() -> float | None:
        server = process_cpu_seconds(server_pid)
        return None if server is None else server + time.process_time()

    return Workload("http", HTTP, record, cpu=cpu)


def _counted(call: Callable[[], object]) -> str | None:
    """Run one in-process step; its failure as text (every failure is counted, none stops the
    run)."""
    try:
        call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def in_process_workload(ledger: DoseLedger) -> Workload:
    """The same AE as the CLI's ``patient ae`` records it: the body validated by the route's
    schema, the route's command function and its answer, in one unit of work."""

    def command_and_answer(step: Step) -> None:
        body = AdverseEventBody.model_validate(step.body())
        uow = UnitOfWork()
        extra = patient_commands.record_adverse_event(
            ledger, step.patient_id, body, INVESTIGATOR, uow=uow
        )
        patient_commands.answer(ledger, step.patient_id, extra, uow=uow)

    return Workload(
        "in_process", IN_PROCESS, lambda client, step: _counted(lambda: command_and_answer(step))
    )


def record_only_workload(ledger: DoseLedger) -> Workload:
    """DoseLedger.record_adverse_event alone with the same AE (the baseline before issue 13's
    last change; no answer is built)."""

    def record(step: Step) -> None:
        ledger.record_adverse_event(step.patient_id, step.report(), INVESTIGATOR)

    return Workload("record_only", RECORD_ONLY, lambda client, step: _counted(lambda: record(step)))


def run_slice(
    workload: Workload,
    chunks: list[list[Step]],
    executor: ThreadPoolExecutor,
    bar: tqdm[Any],
    *,
    timed: bool,
) -> None:
    """Each client records its chunk, all clients at once; adds the wall time and latencies."""
    lock = threading.Lock()

    def client_run(client: int, steps: list[Step]) -> list[tuple[float, str | None]]:
        results = []
        for step in steps:
            started = time.perf_counter()
            error = workload.record(client, step)
            results.append((time.perf_counter() - started, error))
            with lock:
                bar.update()
        return results

    cpu_before = workload.cpu()
    started = time.perf_counter()
    futures = [executor.submit(client_run, c, steps) for c, steps in enumerate(chunks)]
    outcomes = [f.result() for f in futures]
    elapsed = time.perf_counter() - started
    cpu_after = workload.cpu()
    for latency, error in itertools.chain.from_iterable(outcomes):
        if not timed:
            workload.warmup_errors += error is not None
            continue
        workload.latencies.append(latency)
        if error is not None:
            workload.errors[error.splitlines()[0][:160]] += 1
    if timed:
        workload.seconds += elapsed
        if workload.cpu_seconds is not None and cpu_before is not None and cpu_after is not None:
            workload.cpu_seconds += cpu_after - cpu_before
        else:
            workload.cpu_seconds = None


def run_interleaved(workloads: list[Workload], args: argparse.Namespace, backend: str) -> None:
    """Warm each workload up, then time them in alternating slices."""
    clients = args.clients
    warm = [args.warmup * c // clients for c in range(clients + 1)]
    warm_counts = [warm[c + 1] - warm[c] for c in range(clients)]
    timed = [args.requests * c // clients for c in range(clients + 1)]
    timed_counts = [timed[c + 1] - timed[c] for c in range(clients)]
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-client") as executor:
        for w in workloads:
            with progress(args.warmup, f"{backend} {w.label} warm-up") as bar:
                chunks = [w.plan[c][: warm_counts[c]] for c in range(clients)]
                run_slice(w, chunks, executor, bar, timed=False)
        with progress(args.requests * len(workloads), f"{backend} timed") as bar:
            for r in range(args.rounds):
                for w in workloads:
                    chunks = []
                    for c in range(clients):
                        lo = warm_counts[c] + timed_counts[c] * r // args.rounds
                        hi = warm_counts[c] + timed_counts[c] * (r + 1) // args.rounds
                        chunks.append(w.plan[c][lo:hi])
                    run_slice(w, chunks, executor, bar, timed=True)


# ----------------------------------------------------------------- report


def rate(w: Workload) -> float:
    """Requests per second over the timed slices (errors included: they took time too)."""
    return w.requests / w.seconds if w.seconds > 0 else 0.0


def percentile_ms(w: Workload, p: int) -> float:
    """The p-th percentile latency in milliseconds."""
    if len(w.latencies) < 2:
        return 1000 * (w.latencies[0] if w.latencies else 0.0)
    return 1000 * statistics.quantiles(w.latencies, n=100, method="inclusive")[p - 1]


def cpu_ms(w: Workload) -> float | None:
    """CPU milliseconds per request (HTTP: server and clients; in-process: the process)."""
    if w.cpu_seconds is None or not w.requests:
        return None
    return 1000 * w.cpu_seconds / w.requests


def figures_of(w: Workload) -> dict[str, Any]:
    return {
        "workload": w.name,
        "requests": w.requests,
        "errors": w.error_count,
        "warmup_errors": w.warmup_errors,
        "seconds": round(w.seconds, 3),
        "requests_per_second": round(rate(w), 1),
        "p50_ms": round(percentile_ms(w, 50), 2),
        "p99_ms": round(percentile_ms(w, 99), 2),
        "cpu_ms_per_request": None if (ms := cpu_ms(w)) is None else round(ms, 2),
    }


def print_table(backend: str, workloads: list[Workload], ratio: float, clients: int) -> None:
    """Print one backend's figures as a fixed-width table."""
    row = "{:<9} {:<38} {:>8} {:>6} {:>8} {:>7} {:>7} {:>7} {:>11}"
    print(
        row.format(
            "backend",
            "workload",
            "requests",
            "errors",
            "seconds",
            "req/s",
            "p50 ms",
            "p99 ms",
            "cpu ms/req",
        )
    )
    for w in workloads:
        ms = cpu_ms(w)
        print(
            row.format(
                backend,
                f"{w.name} x{clients}",
                w.requests,
                w.error_count,
                f"{w.seconds:.2f}",
                f"{rate(w):.0f}",
                f"{percentile_ms(w, 50):.1f}",
                f"{percentile_ms(w, 99):.1f}",
                "n/a" if ms is None else f"{ms:.2f}",
            )
        )
    errors = sum(w.error_count + w.warmup_errors for w in workloads)
    verdict = "meets" if ratio >= TARGET and errors == 0 else "BELOW"
    print(
        f"{backend:<9} {'ratio (HTTP / in-process req/s)':<38} {ratio:>8.2f}   "
        f"(target >= {TARGET} with no errors: {verdict}; errors: {errors})"
    )
    for w in workloads:
        for text, count in w.errors.most_common(5):
            print(f"{backend:<9} {w.label} error x{count}: {text}")
    print(flush=True)


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Both workloads, each on its own fresh store of one backend; returns the figures."""
    patients = patients_needed(args)
    with ExitStack() as stack:
        http_url = stack.enter_context(store(backend, "http", args.postgres_url))
        local_url = stack.enter_context(store(backend, "in_process", args.postgres_url))
        only_url = stack.enter_context(store(backend, "record_only", args.postgres_url))
        http_patients, secret = prepare_store(http_url, patients, f"{backend} HTTP set-up")
        local_patients, _ = prepare_store(local_url, patients, f"{backend} in-process set-up")
        only_patients, _ = prepare_store(only_url, patients, f"{backend} record-only set-up")
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        base, pid = stack.enter_context(served(http_url, args.log_level, folder / "serve.log"))
        http = http_workload(base, pid, secret, args.clients, stack)
        http.plan = plan(http_patients, args.clients, args.aes_per_patient)
        ledger = build_ledger(env=persistence_env(local_url), clock=starting_at(CLOCK_START))
        stack.callback(ledger.close)
        local = in_process_workload(ledger)
        local.plan = plan(local_patients, args.clients, args.aes_per_patient)
        only_ledger = build_ledger(env=persistence_env(only_url), clock=starting_at(CLOCK_START))
        stack.callback(only_ledger.close)
        only = record_only_workload(only_ledger)
        only.plan = plan(only_patients, args.clients, args.aes_per_patient)
        workloads = [http, local, only]
        run_interleaved(workloads, args, backend)
        # A sanity check on the workload, not on timings: every success was stored.
        for w, url, ids in (
            (http, http_url, http_patients),
            (local, local_url, local_patients),
            (only, only_url, only_patients),
        ):
            stored = count_aes(url, ids)
            succeeded = args.warmup - w.warmup_errors + w.requests - w.error_count
            if stored != succeeded:
                raise BenchError(f"{w.name}: {succeeded} AEs recorded, {stored} stored")
    http_over_local = ratio(rate(http), rate(local))
    http_over_only = ratio(rate(http), rate(only))
    print_table(backend, workloads, http_over_local, args.clients)
    print(
        f"{backend:<9} {'ratio (HTTP / record only) (info)':<38} {http_over_only:>8.2f}\n",
        flush=True,
    )
    return {w.label: figures_of(w) for w in workloads} | {
        "ratio": http_over_local,
        "ratio_record_only": http_over_only,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Requests/s, p50 and p99 latency of recording adverse events through a "
        "real `doseledger serve` process (N concurrent HTTP clients on loopback) against the "
        "same commands called in-process by N threads, each on a fresh store of the same "
        "backend; prints a table per backend and a final JSON line. Figures only: nothing is "
        "asserted about timings.",
    )
    add_backend_arguments(parser)
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="timed requests per workload (default 2000)",
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent clients / threads (default 8)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=80,
        help="untimed requests per workload before the timed ones (default 80)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="timed slices per workload, alternated between the workloads (default 4)",
    )
    parser.add_argument(
        "--aes-per-patient",
        type=int,
        default=10,
        help=f"AEs (of different terms) each patient takes (default 10, at most {len(TERMS)})",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DOSELEDGER_LOG_LEVEL", "WARNING"),
        help="doseledger's log level in both workloads, the server's included (default "
        "$DOSELEDGER_LOG_LEVEL or WARNING; INFO logs a JSON line per request)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.clients < 1:
        parser.error("need --requests >= 1, --warmup >= 0 and --clients >= 1")
    if not 1 <= args.rounds <= math.ceil(args.requests / args.clients):
        parser.error("need 1 <= --rounds <= --requests / --clients")
    if not 1 <= args.aes_per_patient <= len(TERMS):
        parser.error(f"need 1 <= --aes-per-patient <= {len(TERMS)}")
    check_postgres_url(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the chosen backends and print the figures."""
    args = parse_args(argv)
    try:
        configure_logging(args.log_level)
    except InvalidInput as exc:
        print(f"bench_api: {exc}", file=sys.stderr)
        return 2
    print(
        f"doseledger API benchmark: {args.requests} timed requests per workload by "
        f"{args.clients} concurrent clients, in {args.rounds} alternating slices after "
        f"{args.warmup} warm-up requests; each records a grade-1 AE (no DLT, no action) on "
        f"one of {patients_needed(args)} dosed patients ({args.aes_per_patient} terms each); "
        f"log level {args.log_level.upper()}\n"
    )
    report: dict[str, Any] = {
        "requests": args.requests,
        "clients": args.clients,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "aes_per_patient": args.aes_per_patient,
        "target": TARGET,
        "log_level": args.log_level.upper(),
    }
    report["backends"], failed = each_backend(
        args, lambda backend: run_backend(backend, args), failures=(BenchError,)
    )
    print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
