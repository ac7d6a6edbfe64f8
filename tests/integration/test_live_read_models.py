"""One runner per process: the reminders tick reads the index from it, and it wakes on writes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from adapters import read_models as following
from adapters.application import DoseLedger
from adapters.bootstrap import (
    build_ledger,
    build_live_read_models,
    build_reminders,
    build_scheduler,
)
from adapters.read_models import LiveReadModels
from adapters.settings import persistence_env
from domain.protocol import template
from domain.reminder_schedule import start_of
from support import ADMIN, day, dosing


def reached(live: LiveReadModels, position: int, seconds: float) -> bool:
    """True when every read model reaches the position within the time, without a read."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if min(live.positions().values()) >= position:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def live(ledger: DoseLedger) -> Iterator[LiveReadModels]:
    read_models = build_live_read_models(ledger)
    yield read_models
    read_models.close()


def test_a_tick_given_the_process_runner_reads_the_index_from_it_and_opens_none(
    ledger: DoseLedger, live: LiveReadModels
) -> None:
    dosing(ledger, template("defactinib-avutometinib"), count=3)
    at = start_of(day(40))
    alone = build_reminders(ledger)
    try:
        expected = alone.due(at)
    finally:
        alone.close()
    shared = build_reminders(ledger, read_models=live)
    assert shared.due(at) == expected and expected
    assert shared.index is live and shared._own is None
    shared.close()  # closes nothing of the runner's
    assert live.read(lambda queries: queries.due_reminders(at))


def test_the_scheduler_of_serve_ticks_on_the_apps_runner(
    ledger: DoseLedger, live: LiveReadModels
) -> None:
    scheduler = build_scheduler(ledger, tick_seconds=30, read_models=live)
    (job,) = [j for j in scheduler.get_jobs() if j.id == "reminders"]
    assert job.args[0].run.keywords == {"read_models": live}


def test_a_following_runner_catches_up_on_its_own_ledgers_commit_at_once(
    ledger: DoseLedger, live: LiveReadModels
) -> None:
    live.follow(poll_seconds=3600)  # only the wake-up can catch it up in time
    ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
    head = ledger.recorder.max_notification_id()
    assert head is not None and reached(live, head, 5)


@pytest.mark.postgres
def test_on_postgresql_another_writers_commit_wakes_the_runner_through_notify(
    postgres_url: str,
) -> None:
    env = persistence_env(postgres_url)
    with build_ledger(env=env) as ledger, build_ledger(env=env) as other:
        live = build_live_read_models(ledger)
        try:
            live.follow(poll_seconds=3600)  # no poll in time: NOTIFY only
            wakeups = live._wakeups
            assert wakeups is not None and wakeups.listening.wait(5)
            time.sleep(0.2)  # the catch-up of LISTEN's first wake-up is over
            other.register_trial(template("defactinib-avutometinib"), ADMIN)
            head = other.recorder.max_notification_id()
            assert head is not None and reached(live, head, 5)
        finally:
            live.close()


def test_the_following_thread_waits_longer_for_commits_after_a_busy_batch() -> None:
    # After a batch of a busy moment the next commits gather longer (a batch costs mostly
    # per batch); after a quiet one a write reaches the read models as soon as before.
    assert following.coalescing_window(0) == following.COALESCE_SECONDS
    assert following.coalescing_window(following.BUSY_EVENTS - 1) == following.COALESCE_SECONDS
    assert following.coalescing_window(following.BUSY_EVENTS) == following.BUSY_COALESCE_SECONDS
    assert following.COALESCE_SECONDS < following.BUSY_COALESCE_SECONDS <= 0.1
