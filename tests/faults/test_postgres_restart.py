"""A PostgreSQL restart under a running ``doseledger serve`` and a write load: the read models,
their LISTEN, the reminders and the webhooks recover without a restart of the service, reads
and /readyz answer 503 (reads with Retry-After) during the outage and the service is ready
after, and no acknowledged write is lost.

The server is a private one (``private_postgres``): the shared one is never restarted.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.webhooks.targets import ALLOW_HTTP_VAR, ALLOWED_HOSTS_VAR
from conftest import TEST_AUDIT_KEY
from faults.private_postgres import (  # noqa: F401 (a fixture)
    PrivatePostgres,
    free_port,
    private_postgres,
)
from processes import SCRIPT, Process, running, wait_until
from webhook_receiver import receiver

OUTAGE_SECONDS = 4.0
WRITE_PAUSE_SECONDS = 0.1
pytestmark = pytest.mark.faults


@dataclass
class Load:
    """Registers trials one after another; keeps what was acknowledged and what was not."""

    client: httpx.Client
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (trial id, X-Position)
    refused: list[httpx.Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            try:
                answer = self.client.post(
                    "/trials",
                    json={"template_id": "defactinib-avutometinib", "name": f"load {number}"},
                )
            except httpx.HTTPError as exc:  # no answer: not acknowledged
                self.errors.append(type(exc).__name__)
            else:
                if answer.status_code == 201:
                    position = int(answer.headers["X-Position"])
                    self.acknowledged.append((answer.json()["id"], position))
                else:
                    self.refused.append(answer)
            self.stop.wait(WRITE_PAUSE_SECONDS)


@pytest.fixture
def served(private_postgres: PrivatePostgres, tmp_path: Path) -> Iterator[tuple[Process, str]]:  # noqa: F811
    port = free_port()
    env = {
        "DOSELEDGER_DATABASE_URL": private_postgres.url,
        "DOSELEDGER_AUDIT_KEY": os.environ.get("DOSELEDGER_AUDIT_KEY", TEST_AUDIT_KEY),
        "DOSELEDGER_LOG_LEVEL": "INFO",
        "DOSELEDGER_TICK_SECONDS": "1",
        # Webhooks may reach the test's receiver (http on 127.0.0.1).
        ALLOW_HTTP_VAR: "1",
        ALLOWED_HOSTS_VAR: "127.0.0.1",
    }
    argv = ["serve", "--demo", "--port", str(port)]
    with running(argv, env, tmp_path / "serve.log") as process:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{base}/readyz") == 200, "serve ready", process)
        yield process, base
        process.stop()


def _status(url: str, **kwargs: Any) -> int | None:
    try:
        return httpx.get(url, timeout=2, **kwargs).status_code
    except httpx.HTTPError:
        return None


def test_the_read_side_recovers_from_a_postgres_restart_without_losing_a_write(
    served: tuple[Process, str],
    private_postgres: PrivatePostgres,  # noqa: F811
) -> None:
    with ExitStack() as stack:
        _restart_under_load(served, private_postgres, stack)


def _restart_under_load(
    served: tuple[Process, str],
    private_postgres: PrivatePostgres,  # noqa: F811
    stack: ExitStack,
) -> None:
    process, base = served
    key = process.log.read_text().split("shown once: ")[1].split(")")[0]
    auth = {"Authorization": f"Bearer {key}"}
    demo = httpx.get(f"{base}/trials", headers=auth).json()["trials"][0]["id"]
    hook = stack.enter_context(receiver())
    subscribed = httpx.post(
        f"{base}/webhooks",
        headers=auth,
        json={"url": hook.url, "name": "EDC", "kinds": ["ophthalmology_baseline"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    load = Load(httpx.Client(base_url=base, headers=auth, timeout=10))
    writer = threading.Thread(target=load.run, daemon=True)
    writer.start()
    try:
        wait_until(lambda: len(load.acknowledged) >= 5, "writes before the outage", process)

        private_postgres.stop()
        stopped_at = time.time()
        during: list[httpx.Response] = []
        unanswered = 0  # reads without an answer within their timeout
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            for path in ("/readyz", f"/trials/{demo}/cohorts"):
                try:
                    # The pool waits its connect timeout (5 s) for a connection, then 503.
                    during.append(httpx.get(f"{base}{path}", headers=auth, timeout=15))
                except httpx.HTTPError:
                    unanswered += path != "/readyz"
            time.sleep(0.5)
        acknowledged_before = len(load.acknowledged)
        private_postgres.start()
        restarted_at = time.time()

        wait_until(lambda: _status(f"{base}/readyz") == 200, "ready after the restart", process)
        wait_until(
            lambda: len(load.acknowledged) >= acknowledged_before + 5,
            "writes after the restart",
            process,
        )
        wait_until(
            lambda: any(
                _epoch(t["timestamp"]) > restarted_at and "store" not in t and "stopped" not in t
                for t in process.events("reminders tick")
            ),
            "a reminders tick that ran after the restart",
            process,
        )
    finally:
        load.stop.set()
        writer.join(timeout=30)

    readiness = [r for r in during if r.url.path == "/readyz"]
    assert readiness and all(r.status_code == 503 for r in readiness)

    # No acknowledged write lost; the read models reach the last one (X-Min-Position).
    last = max(position for _, position in load.acknowledged)
    for trial_id, _ in load.acknowledged:
        assert httpx.get(f"{base}/trials/{trial_id}", headers=auth).status_code == 200
    cohorts = httpx.get(
        f"{base}/trials/{load.acknowledged[-1][0]}/cohorts",
        headers={**auth, "X-Min-Position": str(last)},
        timeout=10,
    )
    assert cohorts.status_code == 200, cohorts.text
    overview = httpx.get(f"{base}/trials", headers=auth, params={"limit": 1000}).json()["trials"]
    assert {t for t, _ in load.acknowledged} <= {t["id"] for t in overview}

    # The follower logged the outage once and its end once, not in a hot loop.
    lines = process.lines()
    lost = [line for line in lines if line.get("event", "").startswith("read models lost")]
    back = [line for line in lines if line.get("event", "").startswith("read models following")]
    assert len(lost) == 1 and len(back) == 1, [line.get("event") for line in lines][-40:]
    listening = [line for line in lines if "listening for new events" in line.get("event", "")]
    assert len(listening) <= 2  # stopped listening once, listening again once
    # The reminders tick skipped while the store was away and ran again after (a second each).
    ticks = [line for line in lines if line.get("event") == "reminders tick"]
    during_ticks = [t for t in ticks if stopped_at < _epoch(t["timestamp"]) < restarted_at]
    assert during_ticks and all(t["issued"] == 0 for t in during_ticks)
    assert any(
        _epoch(t["timestamp"]) > restarted_at and "store" not in t and "stopped" not in t
        for t in ticks
    )

    # Webhooks recovered too: a patient enrolled after the restart has its baseline eye exam
    # reminder issued by the tick and delivered by the dispatcher, to the subscription made
    # before the outage.
    investigator = _investigator_key(private_postgres.url)
    trial_id = load.acknowledged[-1][0]
    enrolled = httpx.post(
        f"{base}/trials/{trial_id}/patients",
        headers={"Authorization": f"Bearer {investigator}"},
        json={"site_id": "S01"},
        timeout=10,
    )
    assert enrolled.status_code == 201, enrolled.text
    patient_id = enrolled.json()["id"]
    wait_until(
        lambda: any(patient_id in r.body.decode() for r in hook.received),
        "the new patient's baseline eye exam reminder delivered by webhook",
        process,
    )

    # Reads during the outage: 503 with Retry-After (the database is unavailable), never a 5xx
    # of another kind nor a hang.
    reads = [r for r in during if r.url.path != "/readyz"]
    assert unanswered == 0 and reads
    assert all(r.status_code == 503 and "retry-after" in r.headers for r in reads), sorted(
        {r.status_code for r in reads}
    )


def _investigator_key(url: str) -> str:
    """An investigator's key at site S01, made by the CLI on the served store."""
    env = {
        **os.environ,
        "DOSELEDGER_DATABASE_URL": url,
        "DOSELEDGER_AUDIT_KEY": os.environ.get("DOSELEDGER_AUDIT_KEY", TEST_AUDIT_KEY),
    }
    made = subprocess.run(
        [str(SCRIPT), "keys", "create", "--role", "investigator", "--site", "S01", "--name", "inv"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(made.stdout)["key"])


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
