"""A ``serve`` process follows the log once: the HTTP reads, the reminders tick and the webhook
outbox share the one read-model runner that ``adapters.bootstrap.build_service`` wires."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import adapters.scheduler
from adapters.bootstrap import build_service
from adapters.settings import Settings
from domain.protocol import template
from projections.runner import ReadModelRunner
from support import ADMIN, dosing


def test_a_serve_process_follows_the_log_with_one_runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    followers: set[int] = set()
    catch_up = ReadModelRunner.catch_up

    def counted(runner: ReadModelRunner, *args: Any, **kwargs: Any) -> int:
        followers.add(id(runner))
        return catch_up(runner, *args, **kwargs)

    monkeypatch.setattr(ReadModelRunner, "catch_up", counted)
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
