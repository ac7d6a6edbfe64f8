"""Issue 14: an API process killed with SIGKILL in the middle of a write load, and a database
that goes away under a running app (PostgreSQL, a database of the test's own)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from fastapi.testclient import TestClient

from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.persistence.environment import persistence_env
from fault_cluster import (
    TRIAL,
    Outcome,
    admin_key,
    doseledger,
    drop_database,
    fresh_database,
    post_until_answered,
    serving,
    trials_by_name,
)
from support import ADMIN

CLIENTS = 6
REQUESTS_PER_CLIENT = 30
KILL_AFTER = 40  # acknowledged writes before the kill: the kill lands mid-load


def test_a_killed_api_process_loses_no_acknowledged_write_and_doubles_none(
    tmp_path: Path,
) -> None:
    with fresh_database() as url:
        secret = admin_key(url)
        outcomes: list[tuple[Outcome, dict[str, Any] | None]] = []
        acknowledged = threading.Semaphore(0)
        with serving(url, tmp_path, 2) as (victim, survivor):

            def client(n: int) -> list[tuple[Outcome, dict[str, Any] | None]]:
                done = []
                with httpx.Client(timeout=30) as http:
                    for i in range(REQUESTS_PER_CLIENT):
                        key = f"c{n}-r{i}"
                        # Half the requests go to the victim first; every retry to the other.
                        first = [victim.base, survivor.base][i % 2]
                        bases = [first, survivor.base]
                        body = TRIAL | {"name": key}
                        done.append(post_until_answered(http, bases, secret, key, body))
                        if done[-1][0].acknowledged:
                            acknowledged.release()
                return done

            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(client, n) for n in range(CLIENTS)]
                for _ in range(KILL_AFTER):
                    acknowledged.acquire(timeout=60)
                victim.process.popen.send_signal(signal.SIGKILL)
                victim.process.popen.wait()
                for future in futures:
                    outcomes.extend(future.result())
            assert survivor.process.popen.poll() is None
        interrupted = [o for o, _ in outcomes if len(o.answers) > 1]
        assert interrupted, "the kill interrupted no request: nothing was tested"

        ledger = build_ledger(env=persistence_env(url))
        try:
            recorded = trials_by_name(ledger)
        finally:
            ledger.close()
        # No duplicates: one trial per key at the most.
        assert [name for name, ids in recorded.items() if len(ids) > 1] == []
        for outcome, body in outcomes:
            if outcome.acknowledged:  # every 2xx is in the store, as answered
                assert body is not None and recorded[outcome.key] == [UUID(body["id"])], outcome
            elif outcome.recorded:  # committed by the killed process, never answered
                assert len(recorded.get(outcome.key, [])) == 1, outcome
            else:  # an error never retried successfully: nothing recorded
                assert outcome.key not in recorded, outcome
        finals = Counter(
            "2xx" if o.acknowledged else "recorded" if o.recorded else str(o.final)
            for o, _ in outcomes
        )
        assert finals["2xx"] + finals["recorded"] == CLIENTS * REQUESTS_PER_CLIENT, finals

        # After a restart of the killed instance: the read models and the audit chain agree.
        (tmp_path / "restarted").mkdir()
        with serving(url, tmp_path / "restarted", 1) as (restarted,):
            assert restarted.healthy()
        for argv in (["projections", "check"], ["audit", "verify"]):
            result = doseledger(url, *argv)
            assert result.returncode == 0, (argv, result.stdout[-2000:], result.stderr[-2000:])


def test_a_database_gone_away_answers_503_with_retry_after_on_every_route() -> None:
    """The pool cannot connect, the connections in hand were cut: every route answers 503
    problem+json with Retry-After, never 500, and a POST records nothing."""
    with fresh_database() as url:
        # Each request waits out the pool's wait for a connection: 1 s here instead of the
        # deployment's 5 s, or the six requests take half a minute of the suite.
        ledger = build_ledger(env={**persistence_env(url), "POSTGRES_CONNECT_TIMEOUT": "1"})
        try:
            secret, _ = build_key_ring(ledger).issue("admin", "admin", None, ADMIN)
            # A real server sends the 503 and logs the error; the test client would re-raise it.
            client = TestClient(build_app(ledger), raise_server_exceptions=False)
            auth = {"Authorization": f"Bearer {secret}"}
            created = client.post("/trials", headers=auth, json=TRIAL)
            assert created.status_code == 201
            trial = created.json()["id"]
            drop_database(url)  # every session on it ended; new connections refused
            for method, path, extra in [
                ("GET", "/trials", {}),
                ("GET", f"/trials/{trial}", {}),
                ("GET", "/events", {}),
                ("POST", "/trials", {"json": TRIAL}),
                ("POST", "/trials", {"json": TRIAL, "headers": {"Idempotency-Key": "k1"}}),
                ("POST", f"/trials/{trial}/patients", {"json": {"site_id": "S01"}}),
            ]:
                headers = {**auth, **extra.pop("headers", {})}
                started = time.monotonic()
                answer = client.request(method, path, headers=headers, **extra)
                assert answer.status_code == 503, (method, path, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.headers["retry-after"].isdigit()
                assert answer.json()["type"].endswith("/service-unavailable")
                assert time.monotonic() - started < 30
        finally:
            ledger.close()
