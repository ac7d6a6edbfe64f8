"""The composition root: builds the application and its parts from settings.

The CLI, ``serve``, the standalone scheduler, the tests' fixtures and the benchmarks build
through these functions, and nothing else constructs a ``DoseLedger``
(``tests/unit/test_bootstrap.py`` scans for it). No work at import time; FastAPI, APScheduler
and the webhooks are imported only by the functions that build them (a CLI command needs none).

One process, one follower of the log: ``build_service`` gives the HTTP app, the reminders tick
and the webhook outbox the same :class:`LiveReadModels` (the outbox as a live-only model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.application import DoseLedger
from adapters.clock import Clock, utc_now
from adapters.settings import Settings
from projections.default_models import DEFAULT_CACHE_SIZE
from projections.runner import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from fastapi import FastAPI

    from adapters.application.key_ring import KeyRing
    from adapters.application.reminder_tick import Reminders
    from adapters.read_models import LiveReadModels
    from adapters.scheduler import PeriodicJob
    from adapters.webhooks import RetryPolicy, Webhooks
    from projections.forked_worker import ForkedWorker
    from projections.read_models import ReadModels


def build_ledger(
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> DoseLedger:
    """A DoseLedger on the database the settings name (SQLite file by default).

    ``env``: an eventsourcing environment instead of the settings' (tests and benchmarks that
    set the library's variables themselves); its clock is then the real UTC time unless
    ``clock`` says otherwise.
    """
    if env is None:
        settings = settings or Settings()
        env, clock = settings.persistence_env(), clock or settings.clock()
    return DoseLedger(env=env, clock=clock or utc_now)


def build_read_models(
    settings_or_url: Settings | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_size: int = DEFAULT_CACHE_SIZE,
    fork_second_process: bool = False,
) -> ReadModels:
    """Read models in the database the settings (or a DOSELEDGER_DATABASE_URL) name.

    Events are read and decoded by a DoseLedger of their own on the same environment (its
    recorder and mapper); the read-model tables live next to them (``rm_*`` in SQLite,
    ``doseledger_rm_*`` in the PostgreSQL schema). ``close()`` closes both.

    ``fork_second_process``: a command that may rebuild or catch up in two processes forks
    the second now, before it opens anything, with what it needs imported
    (``projections.forked_worker``; not where the process already has other threads).
    """
    from adapters.persistence.environment import persistence_env
    from adapters.persistence.event_log import EventLog
    from adapters.read_models import service_read_models
    from projections.read_models import ReadModels
    from projections.store import open_store

    if isinstance(settings_or_url, str):
        env = persistence_env(settings_or_url)
    else:
        env = (settings_or_url or Settings()).persistence_env()
    spare = _forked_second_process(env) if fork_second_process else None
    ledger = None
    try:
        ledger = build_ledger(env=env)
        store = open_store(env)
    except BaseException:
        if ledger is not None:
            ledger.close()
        if spare is not None:
            spare.release()
        raise
    return ReadModels(
        ledger,
        store,
        batch_size=batch_size,
        cache_size=cache_size,
        models=lambda s: service_read_models(s, cache_size=cache_size),
        reopen=EventLog,  # a second process reads and decodes, no more
        env=env,
        on_close=ledger.close,
        spare=spare,
    )


def _forked_second_process(env: Mapping[str, str]) -> ForkedWorker | None:
    """The second process of a parallel run, forked with the persistence module (the driver)
    imported, so that it imports nothing; None where it cannot be forked safely."""
    import importlib

    from projections.forked_worker import prefork

    module = env.get("PERSISTENCE_MODULE")
    if module:
        importlib.import_module(module.partition(":")[0])
    return prefork()


def build_live_read_models(ledger: DoseLedger, settings: Settings | None = None) -> LiveReadModels:
    """The process's one runner of the read models, the webhook outbox among them (live only:
    never rebuilt, so a rebuild sends no old reminder again)."""
    from adapters.read_models import LiveReadModels
    from adapters.webhooks.outbox import Outbox

    wait = (settings or Settings()).min_position_wait_seconds
    return LiveReadModels(ledger, live_only=[Outbox], min_position_wait_seconds=wait)


def build_reminders(
    ledger: DoseLedger,
    clock: Clock | None = None,
    *,
    read_models: LiveReadModels | None = None,
) -> Reminders:
    """The reminders of a ledger's store; ``read_models``: the runner their index is read
    from (else they open their own)."""
    from adapters.application.reminder_tick import Reminders

    return Reminders(ledger, clock, read_models=read_models)


def build_key_ring(ledger: DoseLedger) -> KeyRing:
    """The API keys kept in a ledger's store."""
    from adapters.application.key_ring import KeyRing

    return KeyRing(ledger)


def build_webhooks(
    ledger: DoseLedger,
    clock: Clock | None = None,
    *,
    policy: RetryPolicy | None = None,
    follower: LiveReadModels | None = None,
) -> Webhooks:
    """The webhook outbox and dispatcher; ``follower``: the runner that feeds the outbox (else
    the outbox is caught up on its own)."""
    from adapters.webhooks import Webhooks

    return Webhooks(ledger, clock, policy=policy, follower=follower)


def build_scheduler(
    ledger: DoseLedger,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    tick_seconds: int | None = None,
    extra_jobs: Iterable[PeriodicJob] = (),
    blocking: bool = False,
    read_models: LiveReadModels | None = None,
) -> BaseScheduler:
    """The periodic jobs' scheduler, not started (``adapters.scheduler.scheduler_for``);
    ``tick_seconds`` defaults to the settings'."""
    from adapters.scheduler import scheduler_for

    seconds = tick_seconds if tick_seconds is not None else (settings or Settings()).tick_seconds
    return scheduler_for(
        ledger,
        clock,
        tick_seconds=seconds,
        extra_jobs=extra_jobs,
        blocking=blocking,
        read_models=read_models,
    )


def build_app(
    ledger: DoseLedger,
    settings: Settings | None = None,
    *,
    read_models: LiveReadModels | None = None,
    follow_read_models: bool = False,
    scheduler: Callable[[LiveReadModels], BaseScheduler] | None = None,
) -> FastAPI:
    """The HTTP API over a ledger (``adapters.http.app.create_app``) with its parts: the read
    models (``read_models``, else its own), the outbox they feed, the key ring and the
    Idempotency-Key store."""
    from adapters.http.app import create_app
    from adapters.http.idempotency import IdempotencyStore

    settings = settings or Settings()
    live = read_models or build_live_read_models(ledger, settings)
    return create_app(
        ledger,
        read_models=live,
        outbox=build_webhooks(ledger, follower=live),
        keys=build_key_ring(ledger),
        idempotency=IdempotencyStore(
            ledger.env,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lease_seconds=settings.idempotency_lease_seconds,
        ),
        follow_read_models=follow_read_models,
        scheduler=scheduler,
        settings=settings,
    )


@dataclass(frozen=True)
class SchedulerProcess:
    """What ``doseledger scheduler`` runs: the periodic jobs on one read-model runner."""

    ledger: DoseLedger
    read_models: LiveReadModels
    scheduler: BaseScheduler

    def close(self) -> None:
        """Stop following the log and close the read models (after the scheduler stopped)."""
        self.read_models.close()


def build_scheduler_process(
    ledger: DoseLedger,
    settings: Settings | None = None,
    *,
    tick_seconds: int | None = None,
    blocking: bool = True,
) -> SchedulerProcess:
    """``scheduler``'s process, apart from ``serve``: the reminders tick and the webhook
    dispatch on one read-model runner, which each job catches up before it reads (the process
    follows the log once, as ``serve`` does)."""
    from adapters.scheduler import SERVICE_JOBS

    read_models = build_live_read_models(ledger)
    scheduler = build_scheduler(
        ledger,
        settings,
        tick_seconds=tick_seconds,
        extra_jobs=SERVICE_JOBS,
        blocking=blocking,
        read_models=read_models,
    )
    return SchedulerProcess(ledger, read_models, scheduler)


@dataclass(frozen=True)
class Service:
    """What ``doseledger serve`` runs: the ledger, its one read-model runner, the app."""

    ledger: DoseLedger
    read_models: LiveReadModels
    app: FastAPI


def build_service(
    settings: Settings | None = None,
    *,
    ledger: DoseLedger | None = None,
    tick_seconds: int | None = None,
    with_scheduler: bool = True,
    with_follower: bool = True,
) -> Service:
    """``serve``'s process: the app following the log (``with_follower``; else its reads catch
    up on demand, a ``projections run`` worker following), and (``with_scheduler``) the periodic
    jobs (reminders, webhooks) on the same read models, started and stopped with the app."""
    from adapters.scheduler import SERVICE_JOBS

    settings = settings or Settings()
    ledger = ledger or build_ledger(settings)
    live = build_live_read_models(ledger, settings)

    def scheduler(read_models: LiveReadModels) -> BaseScheduler:
        return build_scheduler(
            ledger,
            settings,
            tick_seconds=tick_seconds,
            extra_jobs=SERVICE_JOBS,
            read_models=read_models,
        )

    app = build_app(
        ledger,
        settings,
        read_models=live,
        follow_read_models=with_follower,
        scheduler=scheduler if with_scheduler else None,
    )
    return Service(ledger, live, app)
