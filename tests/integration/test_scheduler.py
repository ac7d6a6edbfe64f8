"""The scheduler in-process, on SQLite and PostgreSQL, with a clock the test moves."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_reminders, build_scheduler
from adapters.clock import Clock
from adapters.logging import configure_logging
from adapters.persistence.environment import persistence_env
from adapters.scheduler import REMINDERS, PeriodicJob
from domain.protocol import template
from domain.reminder_schedule import Reminder, start_of
from support import INVESTIGATOR, ae, day, dosing

DEADLINE = 120.0  # seconds; only a bound, on a shared machine


class FakeClock:
    """A clock the test sets; every tick reads it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Runs:
    """Counts each job's finished runs (APScheduler's own events), to wait on them."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.counts: dict[str, int] = {}
        self.changed = threading.Condition()
        scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED)

    def _executed(self, event: JobExecutionEvent) -> None:
        with self.changed:
            self.counts[event.job_id] = self.counts.get(event.job_id, 0) + 1
            self.changed.notify_all()

    def wait(self, job_id: str, runs: int) -> None:
        with self.changed:
            done = self.changed.wait_for(lambda: self.counts.get(job_id, 0) >= runs, DEADLINE)
        assert done, f"{job_id} ran {self.counts.get(job_id, 0)} times, not {runs}"


@contextmanager
def started(scheduler: BaseScheduler) -> Iterator[Runs]:
    runs = Runs(scheduler)
    scheduler.start()
    try:
        yield runs
    finally:
        scheduler.shutdown(wait=True)


def cpk_window(ledger: DoseLedger) -> tuple[UUID, UUID]:
    """A patient on a grade 4 CPK hold from day 40; the recovery window falls due on day 62."""
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    ae_id = UUID(ae(ledger, pid, "CPK increased", 4, 40)["ae_id"])
    ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=ae_id)
    (window,) = [
        r
        for r in build_reminders(ledger).open(start_of(day(41)))
        if r.kind == "cpk_recovery_window"
    ]
    assert window.due_at == start_of(day(62))
    return pid, window.id


def issued(ledger: DoseLedger, reminder_id: UUID) -> int:
    """How many events the store holds for a reminder (1 once issued, never more)."""
    return len(ledger.recorder.select_events(reminder_id))


def test_each_job_is_an_interval_job_in_an_in_memory_store_running_at_once(
    ledger: DoseLedger,
) -> None:
    def webhooks(ledger: DoseLedger, clock: Clock) -> None: ...

    before = dt.datetime.now(dt.UTC)
    extra = PeriodicJob("webhooks", webhooks, seconds=5)
    scheduler = build_scheduler(ledger, tick_seconds=30, extra_jobs=[extra])
    assert isinstance(scheduler, BackgroundScheduler)
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    scheduler.start(paused=True)  # job defaults apply when jobs reach the store
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown()
    assert set(jobs) == {"reminders", "webhooks"}
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
        assert before <= job.next_run_time <= dt.datetime.now(dt.UTC)  # at once on start
        assert job.args[1:] == (ledger, ledger.clock)  # one clock: the ledger's
    assert jobs["reminders"].trigger.interval == dt.timedelta(seconds=30)
    assert jobs["webhooks"].trigger.interval == dt.timedelta(seconds=5)
    assert jobs["reminders"].args[0] is REMINDERS
    blocking = build_scheduler(ledger, tick_seconds=30, blocking=True)
    assert isinstance(blocking, BlockingScheduler)
    with pytest.raises(ValueError, match="at least 1"):
        build_scheduler(ledger, tick_seconds=0)


def test_a_reminder_due_while_nothing_ran_fires_once_on_the_next_start(
    ledger: DoseLedger,
) -> None:
    pid, window = cpk_window(ledger)
    clock = FakeClock(start_of(day(61)) + dt.timedelta(hours=12))  # the last day of the window
    with started(build_scheduler(ledger, clock=clock, tick_seconds=1)) as runs:
        runs.wait("reminders", 2)
    assert issued(ledger, window) == 0
    assert not ledger.patient_aggregate(pid).discontinue_requirements

    clock.now = start_of(day(63))  # stopped over the due time; started after it
    with started(build_scheduler(ledger, clock=clock, tick_seconds=1)) as runs:
        runs.wait("reminders", 3)
    assert issued(ledger, window) == 1
    record = ledger.repository.get(window)
    assert isinstance(record, Reminder) and record.fired_at == start_of(day(63))
    (required,) = ledger.patient_aggregate(pid).discontinue_requirements
    assert required.rule == "cpk-not-recovered"

    with started(build_scheduler(ledger, clock=clock, tick_seconds=3600)) as runs:
        runs.wait("reminders", 1)  # a third start: nothing new
    assert issued(ledger, window) == 1


def test_reminders_read_the_ledger_clock_by_default(database_url: str) -> None:
    clock = FakeClock(start_of(day(63)))
    ledger = build_ledger(env=persistence_env(database_url), clock=clock)
    try:
        _, window = cpk_window(ledger)
        with started(build_scheduler(ledger, tick_seconds=3600)) as runs:
            runs.wait("reminders", 1)
        assert ledger.repository.get(window).fired_at == clock.now
    finally:
        ledger.close()


def test_a_failing_job_is_logged_and_the_scheduler_goes_on(
    ledger: DoseLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(start_of(day(63)))
    calls: list[Clock] = []

    def flaky(_: DoseLedger, given: Clock) -> None:
        calls.append(given)
        if len(calls) == 1:
            raise RuntimeError("the first run fails")

    _, window = cpk_window(ledger)
    extra = PeriodicJob("flaky", flaky)
    capsys.readouterr()
    with started(build_scheduler(ledger, clock=clock, tick_seconds=1, extra_jobs=[extra])) as runs:
        runs.wait("flaky", 3)
        runs.wait("reminders", 1)
    assert calls[0] is clock  # the same clock as the reminders tick
    assert issued(ledger, window) == 1
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (failed,) = [line for line in lines if line["event"] == "periodic job failed"]
    assert failed["job"] == "flaky" and failed["level"] == "error"
    assert "RuntimeError: the first run fails" in failed["exception"]


def test_library_logs_are_json_lines_with_their_logger_and_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    try:
        capsys.readouterr()
        logger = logging.getLogger("apscheduler.executors.default")
        logger.info('Running job "%s"', "reminders")
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            logger.exception('Job "%s" raised an exception', "reminders")
        running, failed = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        configure_logging("WARNING")
    assert running["event"] == 'Running job "reminders"'
    assert running["logger"] == "apscheduler.executors.default"
    assert failed["level"] == "error" and "exc_info" not in failed
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].endswith("ZeroDivisionError: division by zero")
