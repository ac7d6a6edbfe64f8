"""A ``serve`` or ``scheduler`` process follows the log once: the HTTP reads, the reminders
tick and the webhook outbox share the one read-model runner that ``adapters.bootstrap`` wires
(``build_service``, ``build_scheduler_process``)."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import adapters.scheduler
from adapters.bootstrap import build_ledger, build_scheduler_process, build_service
from adapters.settings import Settings
from domain.protocol import template
from projections.runner import ReadModelRunner
from support import ADMIN, dosing


@pytest.fixture
def followers(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The ids of every runner that catches up the read models during the test."""
    runners: set[int] = set()
    catch_up = ReadModelRunner.catch_up

    def counted(runner: ReadModelRunner, *args: Any, **kwargs: Any) -> int:
        runners.add(id(runner))
        return catch_up(runner, *args, **kwargs)

    monkeypatch.setattr(ReadModelRunner, "catch_up", counted)
    return runners


def test_a_serve_process_follows_the_log_with_one_runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch, followers: set[int]
) -> None:
    ran: set[str] = set()
    both_ran = threading.Event()
    run_job = adapters.scheduler._run

    def recorded(job: adapters.scheduler.PeriodicJob, *args: Any) -> None:
        run_job(job, *args)
        ran.add(job.name)
        if ran >= {"reminders", "webhooks"}:
            both_ran.set()

    monkeypatch.setattr(adapters.scheduler, "_run", recorded)

    service = build_service(Settings(database_url=database_url), tick_seconds=3600)
    dosing(service.ledger, template("defactinib-avutometinib"), count=3)
    secret, _ = service.app.state.keys.issue("ops", "admin", None, ADMIN)
    with TestClient(service.app) as client:
        assert both_ran.wait(30), ran  # each job runs once as the scheduler starts
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/trials", headers=headers).status_code == 200
        assert client.get("/reminders", headers=headers).status_code == 200
        assert client.get("/readyz").status_code == 200
        time.sleep(0.2)  # the following thread's next pass, had it a runner of its own
        assert "webhook_outbox" in service.read_models.read_models.names
    assert len(followers) == 1


def test_a_scheduler_process_follows_the_log_with_one_runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch, followers: set[int]
) -> None:
    ran: list[str] = []
    twice = threading.Event()
    run_job = adapters.scheduler._run

    def recorded(job: adapters.scheduler.PeriodicJob, *args: Any) -> None:
        run_job(job, *args)
        ran.append(job.name)
        if ran.count("reminders") >= 2 and ran.count("webhooks") >= 2:
            twice.set()

    monkeypatch.setattr(adapters.scheduler, "_run", recorded)
    # Every job each second (the webhooks' runs are 10 s apart in a deployment): two ticks
    # of each in about two seconds instead of ten.
    every_second = tuple(
        dataclasses.replace(job, seconds=1) for job in adapters.scheduler.SERVICE_JOBS
    )
    monkeypatch.setattr(adapters.scheduler, "SERVICE_JOBS", every_second)
    settings = Settings(database_url=database_url)
    ledger = build_ledger(settings)
    dosing(ledger, template("defactinib-avutometinib"), count=3)
    process = build_scheduler_process(ledger, settings, tick_seconds=1, blocking=False)
    process.scheduler.start()
    try:
        assert twice.wait(30), ran  # each job ran on two ticks
    finally:
        process.scheduler.shutdown()
        process.close()
        ledger.close()
    assert "webhook_outbox" in process.read_models.read_models.names
    assert len(followers) == 1
