"""A real ``doseledger serve`` process, spoken to over a socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from processes import Process, running, wait_until

SCRIPT = Path(sys.executable).with_name("doseledger")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": database_url, "DOSELEDGER_LOG_LEVEL": "INFO"}
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(SCRIPT), "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"doseledger serve did not start:\n{log.read_text()}")
        yield base, env, log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_served_demo_prints_a_key_that_works(served: tuple[str, dict[str, str], str]) -> None:
    base, env, output = served
    key = output.split("shown once: ")[1].split(")")[0]
    assert f"{base}/docs" in output
    trials = httpx.get(f"{base}/trials", headers={"Authorization": f"Bearer {key}"}).json()[
        "trials"
    ]
    assert len(trials) == 1 and trials[0]["mtd"] == 1
    assert httpx.get(f"{base}/trials").status_code == 401
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "doseledger"
    # Keys made by the CLI on the same store work on the running service, until revoked.
    created = json.loads(
        subprocess.run(
            [str(SCRIPT), "keys", "create", "--role", "monitor", "--name", "CRA"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    monitor = {"Authorization": f"Bearer {created['key']}"}
    assert httpx.get(f"{base}/trials/{trials[0]['id']}", headers=monitor).status_code == 200
    assert (
        httpx.post(
            f"{base}/trials", headers=monitor, json={"template_id": "defactinib-paclitaxel"}
        ).status_code
        == 403
    )
    subprocess.run(
        [str(SCRIPT), "keys", "revoke", created["id"]], env=env, check=True, capture_output=True
    )
    assert httpx.get(f"{base}/trials", headers=monitor).status_code == 401
    response = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "served-1"})
    assert response.headers["x-request-id"] == "served-1"


def _kinds(tick: dict[str, Any]) -> set[str]:
    return {r["kind"] for r in tick["reminders"]}


def _stopped_cleanly(serve: Process) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: exit status -15.
    assert serve.stop() in (0, -signal.SIGTERM)
    assert serve.events("Application shutdown complete.")


def test_serve_ticks_reminders_while_it_runs_and_stops_its_scheduler(
    database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {"DOSELEDGER_DATABASE_URL": database_url, "DOSELEDGER_LOG_LEVEL": "INFO"}
    argv = ["serve", "--demo", "--port", str(port), "--tick-seconds", "1"]
    with running(argv, env, tmp_path / "serve.log") as serve:
        wait_until(lambda: len(serve.events("reminders tick")) >= 2, "two ticks", serve)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        _stopped_cleanly(serve)
    events = [line["event"] for line in serve.lines()]
    started = events.index("Scheduler started")
    stopped = events.index("Scheduler has been shut down")
    assert started < events.index("reminders tick") < stopped
    assert "periodic job failed" not in events
    first, *later = serve.events("reminders tick")
    # Right after the demo is recorded, the first tick issues its follow-ups that are due.
    assert {"cpk_recovery_window", "hold_unresolved", "ophthalmology_referral"} <= _kinds(first)
    assert first["issued"] == len(first["reminders"]) and all(t["issued"] == 0 for t in later)


def test_serve_without_its_scheduler_ticks_nothing(sqlite_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {"DOSELEDGER_DATABASE_URL": sqlite_url, "DOSELEDGER_LOG_LEVEL": "INFO"}
    argv = ["serve", "--demo", "--port", str(port), "--no-scheduler"]
    with running(argv, env, tmp_path / "serve.log") as serve:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, "a healthy service", serve)
        _stopped_cleanly(serve)
    events = {line["event"] for line in serve.lines()}
    assert not events & {"Scheduler started", "reminders tick"}
    due = subprocess.run(
        [str(SCRIPT), "reminders", "due"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ophthalmology_referral" in due.stdout  # left for a `doseledger scheduler` elsewhere
