"""The periodic tick: APScheduler 3 runs each periodic job (reminders first) every N seconds.

Every process runs its own scheduler with its own in-memory job store; none is shared (APScheduler
forbids sharing a job store between schedulers). Several processes may tick the same store at
once: exactly-once comes from the event store, where issuing a reminder is saving version 1 of
an aggregate with the reminder's deterministic id (``adapters.application.reminder_tick``).

Each job runs at once when the scheduler starts (a reminder that fell due while nothing ran
fires on the next start), then every ``seconds``. One run at a time per job (``max_instances``);
runs missed while a run was slow collapse into one (``coalesce``), however late it is
(``misfire_grace_time=None``): a tick always does all that is due, so a late one loses nothing.
A job's error is logged and the next run tries again; the scheduler goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from adapters.application import DoseLedger
from adapters.application.reminder_tick import Reminders
from adapters.clock import Clock
from adapters.persistence.unavailable import database_unavailable
from adapters.read_models import LiveReadModels
from projections.failures import ReadModelStopped

log = structlog.get_logger("doseledger.scheduler")


@dataclass(frozen=True)
class PeriodicJob:
    """Work the scheduler runs periodically: ``run(ledger, clock)``, every ``seconds``."""

    name: str
    run: Callable[..., object]
    seconds: int | None = None  # None: the scheduler's tick interval
    # run(ledger, clock, read_models=...) reads read models: given the process's runner, when
    # it has one, so that a process follows the log once.
    reads_models: bool = False


def issue_due_reminders(
    ledger: DoseLedger, clock: Clock, read_models: LiveReadModels | None = None
) -> None:
    """Issue every reminder due by the clock's now and not yet issued (by any process); log them.

    ``read_models``: the process's read-model runner (``serve``); without one, the tick opens
    its own and catches it up.
    """
    at = clock()
    if read_models is not None and read_models.outage is not None:
        # The follower waits for the store (logged once); the next tick after it is back
        # issues what fell due meanwhile.
        log.info("reminders tick", at=at.isoformat(), issued=0, store=read_models.outage)
        return
    reminders: Reminders | None = None
    lost: dict[str, str] = {}
    try:
        with Reminders(ledger, clock, read_models=read_models) as reminders:
            issued = reminders.tick(at)
    except ReadModelStopped as stopped:
        # The reminder index stopped (logged once when it did; /readyz and the metric say so):
        # issuing from a view frozen at the failed event could send reminders already cleared.
        log.info("reminders tick", at=at.isoformat(), issued=0, stopped=str(stopped))
        return
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # The store went away before the follower noticed: one line, as for an outage; what
        # was issued before it went is recorded and said (the next tick issues the rest).
        issued = [] if reminders is None else reminders.fired
        lost = {"store": str(exc)}
    log.info(
        "reminders tick",
        at=at.isoformat(),
        issued=len(issued),
        reminders=[{"id": str(r.id), "kind": r.kind} for r in issued],
        **lost,
    )


def deliver_webhooks(
    ledger: DoseLedger, clock: Clock, read_models: LiveReadModels | None = None
) -> None:
    """Queue newly issued reminders for their subscribers and send the deliveries now due
    (``read_models``: the process's runner, which feeds the outbox; without one, its own)."""
    from adapters.webhooks import run_webhooks

    report = run_webhooks(ledger, clock, follower=read_models)
    if report.attempted or report.lost_leases:
        log.info("webhooks delivered", **dataclasses.asdict(report))


REMINDERS = PeriodicJob("reminders", issue_due_reminders, reads_models=True)
WEBHOOK_SECONDS = 10
"""How often deliveries are sent: the first retry of a failed one waits 10 s."""
# The periodic jobs that run beside the reminders in `doseledger serve` and `doseledger
# scheduler`.
SERVICE_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("webhooks", deliver_webhooks, seconds=WEBHOOK_SECONDS, reads_models=True),
)


def scheduler_for(
    ledger: DoseLedger,
    clock: Clock | None = None,
    *,
    tick_seconds: int,
    extra_jobs: Iterable[PeriodicJob] = (),
    blocking: bool = False,
    read_models: LiveReadModels | None = None,
) -> BaseScheduler:
    """A scheduler (not started) running the reminders tick and ``extra_jobs`` on one clock
    (built through ``adapters.bootstrap.build_scheduler``).

    ``clock`` defaults to the ledger's; ``blocking`` gives a BlockingScheduler (its ``start``
    runs until shut down) instead of a BackgroundScheduler (a thread of its own).
    ``read_models``: the process's read-model runner, which the jobs that read models use
    (``serve``: the reminder index, the webhook outbox); without one, each run opens its own.
    """
    if tick_seconds < 1:
        raise ValueError(f"tick_seconds must be at least 1, not {tick_seconds}")
    clock = clock or ledger.clock
    jobs = [REMINDERS, *extra_jobs]
    if read_models is not None:
        jobs = [
            dataclasses.replace(job, run=functools.partial(job.run, read_models=read_models))
            if job.reads_models
            else job
            for job in jobs
        ]
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler: BaseScheduler = scheduler_class(
        jobstores={"default": MemoryJobStore()},  # this process's own: never shared
        executors={"default": ThreadPoolExecutor(max_workers=len(jobs))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=dt.UTC,
    )
    for job in jobs:
        scheduler.add_job(
            _run,
            "interval",
            args=(job, ledger, clock),
            id=job.name,
            name=job.name,
            seconds=job.seconds or tick_seconds,
            next_run_time=dt.datetime.now(dt.UTC),  # at once on start
        )
    return scheduler


def _run(job: PeriodicJob, ledger: DoseLedger, clock: Clock) -> None:
    try:
        job.run(ledger, clock)
    except Exception:
        # Logged, not raised: the next run tries again (a tick is idempotent).
        log.exception("periodic job failed", job=job.name)


class _Stop(Exception):
    """SIGTERM or SIGINT asked the standalone scheduler to stop."""


def run_until_signalled(scheduler: BaseScheduler) -> None:
    """Run a blocking scheduler until SIGTERM or SIGINT; let a running job finish, then return."""

    def stop(signum: int, _: FrameType | None) -> None:
        # A second signal stops at once (the default action), e.g. a job that hangs.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        raise _Stop(signal.Signals(signum).name)

    previous: dict[int, Any] = {
        sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        log.info("scheduler started", jobs=[job.id for job in scheduler.get_jobs()])
        scheduler.start()
    except _Stop as stop_signal:
        log.info("scheduler stopping", signal=str(stop_signal))
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler stopped")
