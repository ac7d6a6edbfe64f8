"""Idempotency-Key: authentication first, records outside the event store, scoped to the
caller, kept only for answers the client cannot change, never released after a commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import pytest
import structlog.testing
from fastapi.testclient import TestClient

from adapters.application import DoseLedger
from adapters.application.api_keys import key_id
from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.http.idempotency import IdempotencyStore, fingerprint
from adapters.persistence.environment import persistence_env
from adapters.settings import Settings
from http_api import OPERATOR, Api
from projections.store import PostgresStore
from support import DAY0, enrolling, trial_ids

TRIAL = {"template_id": "defactinib-paclitaxel"}
KEYS = {
    "admin": ("admin", None),
    "admin2": ("admin", None),
    "inv": ("investigator", "S01"),
    "monitor": ("monitor", None),
}


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, KEYS)


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n - 1)).isoformat()


def rows(api: Api) -> list[tuple[Any, ...]]:
    store: IdempotencyStore = api.app.state.idempotency
    with store.transaction() as tx:
        return tx.fetchall(f"SELECT * FROM {store.table} ORDER BY principal, idem_key")


@contextmanager
def nothing_written(api: Api) -> Iterator[None]:
    """Neither the event store nor the idempotency table changes inside the block."""
    events, table = api.ledger.recorder.max_notification_id(), rows(api)
    yield
    assert api.ledger.recorder.max_notification_id() == events
    assert rows(api) == table


def ready(api: Api) -> tuple[str, str]:
    """A trial, and a patient of site S01 on treatment (first dose on day 1)."""
    tid = api.call("POST", "/trials", "admin", 201, json=TRIAL).json()["id"]
    pid = api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=enrolling("S01")).json()[
        "id"
    ]
    eyes = {"clinical_date": day(0), "bcva_right": "20/20", "bcva_left": "20/25"}
    api.call("POST", f"/patients/{pid}/eye-exams", "inv", 201, json=eyes)
    skin = {"clinical_date": day(0), "findings": "none"}
    api.call("POST", f"/patients/{pid}/skin-exams", "inv", 201, json=skin)
    api.call("POST", f"/patients/{pid}/dosing", "inv", 201, json={"clinical_date": day(1)})
    return tid, pid


def test_a_request_without_a_valid_key_writes_nothing(api: Api) -> None:
    api.call("POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "a1"})
    with nothing_written(api):
        anonymous = api.call(
            "POST", "/trials", None, 401, json=TRIAL, headers={"Idempotency-Key": "a1"}
        )
        assert "idempotent-replayed" not in anonymous.headers
        api.call(
            "POST",
            "/trials",
            None,
            401,
            json=TRIAL,
            headers={"Idempotency-Key": "a1", "Authorization": "Bearer dl_not-a-key"},
        )


def test_a_role_the_route_refuses_writes_nothing(api: Api) -> None:
    with nothing_written(api):
        api.call("POST", "/trials", "monitor", 403, json=TRIAL, headers={"Idempotency-Key": "m1"})


def test_a_revoked_key_neither_records_nor_replays(api: Api) -> None:
    headers = {"Idempotency-Key": "r1"}
    api.call("POST", "/trials", "admin2", 201, json=TRIAL, headers=dict(headers))
    build_key_ring(api.ledger).revoke(str(key_id(api.keys["admin2"])), "left", OPERATOR)
    with nothing_written(api):
        again = api.call("POST", "/trials", "admin2", 401, json=TRIAL, headers=dict(headers))
    assert "idempotent-replayed" not in again.headers


def test_the_same_key_and_body_replay_for_the_same_caller_only(api: Api) -> None:
    headers = {"Idempotency-Key": "t1"}
    first = api.call("POST", "/trials", "admin", 201, json=TRIAL, headers=dict(headers))
    assert "idempotent-replayed" not in first.headers
    with nothing_written(api):
        again = api.call("POST", "/trials", "admin", 201, json=TRIAL, headers=dict(headers))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    # Another API key with the same Idempotency-Key: another request.
    other = api.call("POST", "/trials", "admin2", 201, json=TRIAL, headers=dict(headers))
    assert "idempotent-replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"]


def test_no_idempotency_event_reaches_the_event_store(api: Api) -> None:
    api.call("POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "e1"})
    topics = {n.topic for n in api.ledger.recorder.select_notifications(None, 1000)}
    assert not any(t.startswith("doseledger:idempotency") for t in topics)
    assert len(rows(api)) == 1


def test_whitespace_and_key_order_make_the_same_body(api: Api) -> None:
    headers = {"Idempotency-Key": "w1", "Content-Type": "application/json"}
    body = {"template_id": "defactinib-paclitaxel", "name": "Phase I"}
    first = api.call(
        "POST", "/trials", "admin", 201, content=json.dumps(body), headers=dict(headers)
    )
    spaced = '{ "name" : "Phase I",\n  "template_id":"defactinib-paclitaxel" }'
    with nothing_written(api):
        again = api.call("POST", "/trials", "admin", 201, content=spaced, headers=dict(headers))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    with nothing_written(api):
        other = api.call(
            "POST", "/trials", "admin", 422, json={**body, "name": "II"}, headers=dict(headers)
        )
    assert other.json()["field"] == "Idempotency-Key"


def test_a_412_is_not_replayed_after_if_match_is_refreshed(api: Api) -> None:
    _, pid = ready(api)
    etag = api.call("GET", f"/patients/{pid}", "inv", 200).headers["etag"]
    api.call("POST", f"/patients/{pid}/doses", "inv", 201, json={"clinical_date": day(2)})
    dose = {"clinical_date": day(3)}
    with nothing_written(api):
        api.call(
            "POST",
            f"/patients/{pid}/doses",
            "inv",
            412,
            json=dose,
            headers={"Idempotency-Key": "d3", "If-Match": etag},
        )
    fresh = api.call("GET", f"/patients/{pid}", "inv", 200).headers["etag"]
    done = api.call(
        "POST",
        f"/patients/{pid}/doses",
        "inv",
        201,
        json=dose,
        headers={"Idempotency-Key": "d3", "If-Match": fresh},
    )
    assert "idempotent-replayed" not in done.headers


def test_a_domain_refusal_is_not_kept(api: Api) -> None:
    _, pid = ready(api)
    resume = {"action": "resume", "clinical_date": day(5), "at": "same"}
    headers = {"Idempotency-Key": "resume-1"}
    with nothing_written(api):
        refused = api.call(
            "POST", f"/patients/{pid}/dose-actions", "inv", 422, json=resume, headers=dict(headers)
        )
    assert refused.json()["type"].endswith("/command-refused")
    hold = {"action": "hold", "clinical_date": day(4), "reason": "fatigue"}
    api.call("POST", f"/patients/{pid}/dose-actions", "inv", 201, json=hold)
    resumed = api.call(
        "POST", f"/patients/{pid}/dose-actions", "inv", 201, json=resume, headers=dict(headers)
    )
    assert "idempotent-replayed" not in resumed.headers


def test_a_validation_error_of_the_body_is_kept_and_replayed(api: Api) -> None:
    headers = {"Idempotency-Key": "v1"}
    first = api.call(
        "POST", "/trials", "admin", 422, json={"template_id": 5}, headers=dict(headers)
    )
    assert len(rows(api)) == 1
    again = api.call(
        "POST", "/trials", "admin", 422, json={"template_id": 5}, headers=dict(headers)
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def _dead_claim(
    api: Api, key: str, body: dict[str, Any], *, lease_until: float, state: str = "claimed"
) -> None:
    """The row a process leaves when it dies while running a request."""
    store: IdempotencyStore = api.app.state.idempotency
    print_ = fingerprint("POST", "/trials", "", json.dumps(body).encode())
    principal = str(key_id(api.keys["admin"]))
    with store.transaction() as tx:
        tx.execute(
            f"INSERT INTO {store.table} (principal, idem_key, fingerprint, state, token, "
            "lease_until, expires_at, body) VALUES (?, ?, ?, ?, 'dead', ?, ?, ?)",
            (principal, key, print_, state, lease_until, time.time() + 3600, '{"recorded": []}'),
        )


@contextmanager
def _owner_alive(api: Api, key: str) -> Iterator[None]:
    """Another process's live session holding the key's owner lock (PostgreSQL; on SQLite
    only the lease says a claim's owner is alive)."""
    store: IdempotencyStore = api.app.state.idempotency
    opened = store._open()
    if not isinstance(opened, PostgresStore):
        yield
        return
    principal = str(key_id(api.keys["admin"]))
    with psycopg.connect(**opened.conninfo, autocommit=True) as other:
        other.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
            (f"{store.table}|{principal}|{key}",),
        )
        yield


def test_an_expired_lease_lets_a_retry_run_exactly_once(api: Api) -> None:
    _dead_claim(api, "dead-1", TRIAL, lease_until=time.time() - 1)
    before = api.ledger.recorder.max_notification_id()
    first = api.call(
        "POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "dead-1"}
    )
    assert "idempotent-replayed" not in first.headers
    recorded = api.ledger.recorder.max_notification_id()
    assert recorded > before
    with nothing_written(api):
        again = api.call(
            "POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "dead-1"}
        )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_a_live_claim_makes_a_retry_wait_then_409(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapters.http.idempotency.WAIT_SECONDS", 0.2)
    _dead_claim(api, "busy-1", TRIAL, lease_until=time.time() + 60)
    with _owner_alive(api, "busy-1"), nothing_written(api):
        busy = api.call(
            "POST", "/trials", "admin", 409, json=TRIAL, headers={"Idempotency-Key": "busy-1"}
        )
    assert "in progress" in busy.json()["detail"]


@pytest.mark.postgres
def test_a_claim_whose_owner_session_ended_is_taken_over_before_its_lease(
    postgres_url: str,
) -> None:
    """Issue 14: a process killed mid-request leaves its claim with 30 s of lease; its
    session's owner lock went with it, so a retry on another instance runs the request now
    (once), instead of answering 409 'in progress' until the lease runs out."""
    ledger = build_ledger(env=persistence_env(postgres_url))
    try:
        api = Api(ledger, KEYS)
        _dead_claim(api, "killed-1", TRIAL, lease_until=time.time() + 60)
        before = ledger.recorder.max_notification_id() or 0
        ran = api.call(
            "POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "killed-1"}
        )
        assert "idempotent-replayed" not in ran.headers
        assert len(trial_ids(ledger)) == 1 and (ledger.recorder.max_notification_id() or 0) > before
        again = api.call(
            "POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "killed-1"}
        )
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == ran.json()["id"]
        # Committed before the kill: told at once that it was recorded, never run again.
        _dead_claim(api, "killed-2", TRIAL, lease_until=time.time() + 60, state="committed")
        with nothing_written(api):
            told = api.call(
                "POST", "/trials", "admin", 409, json=TRIAL, headers={"Idempotency-Key": "killed-2"}
            )
        assert told.json()["type"].endswith("/request-recorded")
    finally:
        ledger.close()


def test_an_expired_record_is_forgotten(api: Api) -> None:
    headers = {"Idempotency-Key": "x1"}
    first = api.call("POST", "/trials", "admin", 201, json=TRIAL, headers=dict(headers))
    store: IdempotencyStore = api.app.state.idempotency
    later = time.time() + store.ttl + 1
    store.clock = lambda: later
    again = api.call("POST", "/trials", "admin", 201, json=TRIAL, headers=dict(headers))
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert len(rows(api)) == 1  # the expired row was purged


def test_a_500_after_commit_keeps_the_claim(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    register = DoseLedger.register_trial

    def register_then_fail(self: DoseLedger, *args: Any, **kwargs: Any) -> Any:
        register(self, *args, **kwargs)
        raise RuntimeError("the answer failed after the commit")

    monkeypatch.setattr(DoseLedger, "register_trial", register_then_fail)
    before = api.ledger.recorder.max_notification_id()
    failed = api.call(
        "POST", "/trials", "admin", 500, json=TRIAL, headers={"Idempotency-Key": "c1"}
    )
    assert api.ledger.recorder.max_notification_id() > before
    assert "recorded" in failed.json()["detail"]
    monkeypatch.setattr(DoseLedger, "register_trial", register)
    with nothing_written(api):
        again = api.call(
            "POST", "/trials", "admin", 500, json=TRIAL, headers={"Idempotency-Key": "c1"}
        )
    assert again.headers["idempotent-replayed"] == "true"


def test_a_500_before_any_commit_releases_the_claim(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: DoseLedger, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is down")

    with nothing_written(api), monkeypatch.context() as patched:
        patched.setattr(DoseLedger, "register_trial", fail)
        api.call("POST", "/trials", "admin", 500, json=TRIAL, headers={"Idempotency-Key": "f1"})
    done = api.call("POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "f1"})
    assert "idempotent-replayed" not in done.headers


def test_a_slow_request_keeps_its_claim_past_the_lease(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(ledger, KEYS)
    api.client = TestClient(build_app(ledger, settings=Settings(idempotency_lease_seconds=1)))
    api.app = api.client.app  # type: ignore[assignment]
    register = DoseLedger.register_trial

    def slow(self: DoseLedger, *args: Any, **kwargs: Any) -> Any:
        time.sleep(1.6)  # longer than the lease: its renewal keeps the retry waiting
        return register(self, *args, **kwargs)

    monkeypatch.setattr(DoseLedger, "register_trial", slow)
    before = ledger.recorder.max_notification_id() or 0

    def send(delay: float) -> Any:
        time.sleep(delay)
        return api.call(
            "POST", "/trials", "admin", 201, json=TRIAL, headers={"Idempotency-Key": "slow"}
        )

    with ThreadPoolExecutor(2) as pool:
        first, retry = pool.map(send, (0.0, 0.3))
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert len(trial_ids(ledger)) == 1
    assert (ledger.recorder.max_notification_id() or 0) > before


def test_a_process_that_died_after_its_commit_is_never_run_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit marks the claim in its own transaction: when the process stops before it
    keeps its answer (here: the answer is never written), a retry after the lease learns the
    request was recorded, and what it recorded; it does not record it again."""
    tid = api.call("POST", "/trials", "admin", 201, json=TRIAL).json()["id"]
    before = api.ledger.recorder.max_notification_id()
    with monkeypatch.context() as dying:
        dying.setattr(IdempotencyStore, "answer", lambda *args, **kwargs: None)
        api.call(
            "POST",
            f"/trials/{tid}/patients",
            "inv",
            201,
            json=enrolling("S01"),
            headers={"Idempotency-Key": "k-dies"},
        )
    recorded = api.ledger.recorder.max_notification_id()
    assert recorded > before
    (row,) = [r for r in rows(api) if r[1] == "k-dies"]
    assert row[3] == "committed"
    store: IdempotencyStore = api.app.state.idempotency
    later = time.time() + store.lease + 1
    monkeypatch.setattr(store, "clock", lambda: later)
    with nothing_written(api):
        retry = api.call(
            "POST",
            f"/trials/{tid}/patients",
            "inv",
            409,
            json=enrolling("S01"),
            headers={"Idempotency-Key": "k-dies"},
        ).json()
    assert retry["type"].endswith("/request-recorded")
    ids = {entry["aggregate_id"] for entry in retry["recorded"]}
    assert tid in ids  # the trial's cohort, and the new patient
    (patient,) = ids - {tid}
    assert api.call("GET", f"/patients/{patient}", "inv", 200).json()["site_id"] == "S01"
    assert len(api.ledger.trial_aggregate(UUID(tid)).patient_cohort) == 1


def test_a_request_whose_claim_was_taken_over_cannot_commit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stalled request whose lease ran out and was taken over by a retry holds a stale
    token: its commit is refused in the same transaction (409), nothing of it is recorded."""
    store: IdempotencyStore = api.app.state.idempotency
    register = DoseLedger.register_trial
    principal = str(key_id(api.keys["admin"]))

    def taken_over_then_register(self: DoseLedger, *args: Any, **kwargs: Any) -> Any:
        with store.transaction() as tx:  # another process's retry took the claim over
            tx.execute(
                f"UPDATE {store.table} SET token = 'the-retry' "
                "WHERE principal = ? AND idem_key = ?",
                (principal, "stalled"),
            )
        return register(self, *args, **kwargs)

    monkeypatch.setattr(DoseLedger, "register_trial", taken_over_then_register)
    before = api.ledger.recorder.max_notification_id()
    refused = api.call(
        "POST", "/trials", "admin", 409, json=TRIAL, headers={"Idempotency-Key": "stalled"}
    ).json()
    assert "taken over" in refused["detail"]
    assert api.ledger.recorder.max_notification_id() == before
    (row,) = [r for r in rows(api) if r[1] == "stalled"]
    assert (row[3], row[4]) == ("claimed", "the-retry")  # the retry's claim stands


def test_a_client_gone_before_its_body_was_read_leaves_nothing_and_no_error(
    api: Api, info_logs: None
) -> None:
    """The client hung up while sending an Idempotency-Key POST: nothing is claimed or
    recorded, nobody is left to answer, and the log says so in one line (before, the
    ClientDisconnect left the app: uvicorn logged it as an error with a traceback)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/trials",
        "raw_path": b"/trials",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {api.keys['admin']}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"40"),
            (b"idempotency-key", b"gone-1"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    with nothing_written(api), structlog.testing.capture_logs() as logs:
        asyncio.run(api.app(scope, receive, send))  # does not raise
    assert sent == []  # no answer to a client that is gone
    assert not [line for line in logs if line["log_level"] in ("error", "critical")], logs
    (gone,) = [line for line in logs if "disconnected" in line["event"]]
    assert gone["event"] == "client disconnected before its request body was read"
    assert gone["path"] == "/trials"
