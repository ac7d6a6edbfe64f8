"""GET /events and GET /events/stream: the ordered feed for consumers, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import anyio
import fastapi.routing
import httpx
import pytest
import uvicorn
from eventsourcing.postgres import PostgresApplicationRecorder
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.demo import record_demo_trial
from adapters.http.routes import feed
from adapters.persistence.environment import persistence_env
from domain.actors import Actor
from domain.protocol import template

OPERATOR = Actor(user_id="ops", role="admin")
DOMAIN = ("doseledger:trial.", "doseledger:patient.")
ROLES = {
    "integration": None,
    "monitor": None,
    "auditor": None,
    "admin": None,
    "investigator": "S01",
    "src_member": None,
}


class Api:
    """A TestClient over a fresh app, and one key per role."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.app: FastAPI = build_app(ledger)
        self.app.state.feed_poll_seconds = 0.02
        self.client = TestClient(self.app)
        ring = build_key_ring(ledger)
        self.keys = {
            role: ring.issue(f"{role} key", role, site, OPERATOR)[0] for role, site in ROLES.items()
        }

    def headers(self, role: str | None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra} if role else extra

    def get(self, path: str, role: str | None, expect: int, **headers: str) -> Any:
        response = self.client.get(path, headers=self.headers(role, **headers))
        assert response.status_code == expect, response.text
        if expect >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger)


def stored_domain_events(ledger: DoseLedger) -> list[Any]:
    """Every domain notification in the store, read without any topic filter."""
    found: list[Any] = []
    start = 0
    while page := ledger.recorder.select_notifications(start, 500, inclusive_of_start=False):
        found += [n for n in page if n.topic.startswith(DOMAIN)]
        start = page[-1].id
    return found


def register(ledger: DoseLedger, count: int = 1) -> None:
    """Record ``count`` more domain events (one trial registration each)."""
    for _ in range(count):
        ledger.register_trial(template("defactinib-paclitaxel"), OPERATOR)


def postgres(ledger: DoseLedger) -> bool:
    return isinstance(ledger.recorder, PostgresApplicationRecorder)


def burn_positions(ledger: DoseLedger, count: int) -> None:
    """PostgreSQL: consume positions as rolled-back inserts do, leaving a gap in the log."""
    recorder: Any = ledger.recorder
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    with recorder.datastore.get_connection() as conn:
        for _ in range(count):
            conn.execute(
                sql.SQL("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))"), [table]
            )


def page_through(api: Api, limit: int, role: str = "integration") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        body = api.get(f"/events?after={after}&limit={limit}", role, 200).json()
        assert len(body["events"]) <= limit
        events += body["events"]
        if not body["events"]:
            assert body["next"] == after
            return events
        assert body["next"] == body["events"][-1]["position"]
        after = body["next"]


def test_feed_pages_through_every_domain_event_once_in_order(api: Api) -> None:
    ledger = api.ledger
    record_demo_trial(ledger)
    build_key_ring(ledger).issue(
        "late key", "monitor", None, OPERATOR
    )  # an api_key event in between
    register(ledger, 2)
    if postgres(ledger):
        burn_positions(ledger, 5)  # a gap, as a rolled-back insert leaves
    register(ledger)
    build_key_ring(ledger).issue("last key", "monitor", None, OPERATOR)  # and one at the head

    events = page_through(api, limit=7)

    stored = stored_domain_events(ledger)
    assert [e["position"] for e in events] == [n.id for n in stored]
    assert len(events) == ledger.events_appended
    assert not any("api_key" in e["topic"] for e in events)
    assert ledger.recorder.max_notification_id() > events[-1]["position"]  # the last key
    for event, notification in zip(events, stored, strict=True):
        domain_event: Any = ledger.mapper.to_domain_event(notification)
        assert event["id"] == str(notification.id)
        assert event["topic"] == notification.topic
        assert event["type"] == type(domain_event).__name__
        assert event["aggregate"] == notification.topic.split(":")[1].split(".")[0]
        assert event["aggregate_id"] == str(notification.originator_id)
        assert event["version"] == notification.originator_version
        recorded = dt.datetime.fromisoformat(event["recorded_at"])
        assert recorded.utcoffset() == dt.timedelta(0)
        assert recorded == domain_event.timestamp
    by_type: dict[str, dict[str, Any]] = {}
    for event in events:
        by_type.setdefault(event["type"], event)  # the first of each type
    assert by_type["Registered"]["data"]["protocol"]["id"] == "defactinib-avutometinib"
    enrolled = by_type["PatientEnrolled"]["data"]
    assert UUID(enrolled["patient_id"]) and enrolled["site_id"] in ("S01", "S02")
    assert dt.date.fromisoformat(by_type["AERecorded"]["data"]["clinical_date"])
    assert "originator_id" not in by_type["AERecorded"]["data"]
    if postgres(ledger):
        positions = [e["position"] for e in events]
        assert any(b - a > 5 for a, b in itertools.pairwise(positions))

    # Same feed whatever the page size, and for every consumer role.
    assert page_through(api, limit=1000, role="auditor") == events
    assert page_through(api, limit=1, role="monitor")[-3:] == events[-3:]
    # Nothing new: next stays where it is, until something is recorded.
    last = events[-1]["position"]
    for _ in range(2):
        assert api.get(f"/events?after={last}", "admin", 200).json() == {"events": [], "next": last}
    assert api.get("/events?after=9223372036854775807", "admin", 200).json()["events"] == []
    register(ledger)
    fresh = api.get(f"/events?after={last}", "admin", 200).json()
    assert [e["type"] for e in fresh["events"]] == ["Registered"]
    assert fresh["next"] == fresh["events"][0]["position"] > last
    default = api.get("/events", "integration", 200).json()
    assert default["events"] == events[:100] and default["next"] == events[99]["position"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=-1", "after"),
        ("after=abc", "after"),
        ("after=1.5", "after"),
        ("after=9223372036854775808", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_after_or_limit_is_a_problem_naming_it(api: Api, query: str, field: str) -> None:
    problem = api.get(f"/events?{query}", "integration", 422).json()
    assert problem["status"] == 422 and problem["field"] == field
    assert field in problem["detail"]


def test_only_consumer_roles_read_the_feed(api: Api) -> None:
    for path in ("/events", "/events/stream?max_events=1"):
        missing = api.get(path, None, 401)
        assert missing.headers["www-authenticate"].startswith("Bearer")
        api.client.headers["Authorization"] = "Bearer dl_not-a-key"
        assert api.client.get(path).status_code == 401
        del api.client.headers["Authorization"]
        for role in ("investigator", "src_member"):
            assert "may not" in api.get(path, role, 403).json()["detail"]
    for role in ("integration", "monitor", "auditor", "admin"):
        api.get("/events", role, 200)


def read_sse(response: Any) -> list[dict[str, str]]:
    """Parse a text/event-stream body into messages (field -> value; comments as ':')."""
    messages: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if current:
                messages.append(current)
            current = {}
            continue
        name, _, value = line.partition(":")
        current[name] = value.removeprefix(" ")
    if current:
        messages.append(current)
    return messages


def stream(api: Api, query: str, **headers: str) -> list[dict[str, str]]:
    with api.client.stream(
        "GET", f"/events/stream?{query}", headers=api.headers("integration", **headers)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        return read_sse(response)


def test_stream_resumes_after_last_event_id(api: Api) -> None:
    record_demo_trial(api.ledger)
    events = page_through(api, limit=1000)
    middle = events[40]["position"]

    messages = stream(api, "max_events=5", **{"Last-Event-ID": str(middle)})

    assert messages[0] == {"retry": "2000"}
    sent = messages[1:]
    assert [m["id"] for m in sent] == [e["id"] for e in events[41:46]]
    assert [m["event"] for m in sent] == [e["type"] for e in events[41:46]]
    assert [json.loads(m["data"]) for m in sent] == events[41:46]
    # ?after= does the same; Last-Event-ID (a reconnect) wins over it; blank means absent.
    assert stream(api, f"after={middle}&max_events=5")[1:] == sent
    assert stream(api, "after=1&max_events=5", **{"Last-Event-ID": str(middle)})[1:] == sent
    first = stream(api, "max_events=2", **{"Last-Event-ID": " "})[1:]
    assert [m["id"] for m in first] == [e["id"] for e in events[:2]]


@pytest.mark.parametrize("value", ["abc", "-3", "1e3", "9223372036854775808"])
def test_bad_last_event_id_is_a_problem(api: Api, value: str) -> None:
    problem = api.get("/events/stream", "integration", 422, **{"Last-Event-ID": value}).json()
    assert problem["field"] == "Last-Event-ID" and problem["type"].endswith("/invalid-request")
    assert problem["detail"].startswith("Last-Event-ID: ")


@pytest.mark.parametrize("query", ["after=-1", "after=x", "max_events=0"])
def test_bad_stream_query_is_a_problem(api: Api, query: str) -> None:
    problem = api.get(f"/events/stream?{query}", "integration", 422).json()
    assert problem["field"] == query.split("=")[0]


def test_stream_sends_events_recorded_while_it_is_open(api: Api) -> None:
    register(api.ledger)
    head = api.ledger.recorder.max_notification_id() or 0
    done = threading.Event()

    def record_later() -> None:
        time.sleep(0.3)
        register(api.ledger, 2)
        # Should the stream miss them, end it anyway (with the wrong events) rather than hang.
        if not done.wait(20):
            register(api.ledger, 2)

    writer = threading.Thread(target=record_later)
    writer.start()
    started = time.monotonic()
    try:
        messages = stream(api, f"after={head}&max_events=2")
    finally:
        done.set()
        writer.join()
    assert time.monotonic() - started < 15
    sent = messages[1:]
    assert [m["event"] for m in sent] == ["Registered", "Registered"]
    assert all(int(m["id"]) > head for m in sent)


def test_idle_stream_pings_and_stops_when_the_client_leaves(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's SSE keep-alive (15 s in production) is what sends the heartbeat comment.
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.1)
    register(api.ledger)
    head = api.ledger.recorder.max_notification_id() or 0
    with api.client.stream(
        "GET", f"/events/stream?after={head}", headers=api.headers("monitor")
    ) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(line for line in lines if line) == ": ping"
        assert streams_open(api.get("/metrics", "admin", 200).text) == 1
    # Leaving the block disconnected: the stream and its polling stopped.
    assert streams_open(api.get("/metrics", "admin", 200).text) == 0


def test_streams_end_after_their_lifetime_and_a_revoked_key_cannot_resume(api: Api) -> None:
    api.app.state.feed_stream_seconds = 0.3
    register(api.ledger, 2)
    secret, key = build_key_ring(api.ledger).issue("consumer", "integration", None, OPERATOR)
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.monotonic()
    with api.client.stream("GET", "/events/stream", headers=headers) as response:
        messages = read_sse(response)  # to the end: the server closes it
    assert 0.3 <= time.monotonic() - started < 5
    last = messages[-1]["id"]
    assert [m["event"] for m in messages[1:]] == ["Registered", "Registered"]
    build_key_ring(api.ledger).revoke(key["id"], "contract ended", OPERATOR)
    api.client.headers.update({**headers, "Last-Event-ID": last})
    try:
        assert api.client.get("/events/stream").status_code == 401
    finally:
        api.client.headers.pop("Authorization")
        api.client.headers.pop("Last-Event-ID")


def streams_open(metrics_text: str) -> float:
    line = next(
        x for x in metrics_text.splitlines() if x.startswith("doseledger_http_streams_open{")
    )
    return float(line.rsplit(" ", 1)[1])


def test_follow_reads_a_backlog_without_waiting_and_stops_at_max_events() -> None:
    even = range(2, 502, 2)  # positions with gaps
    store: list[dict[str, Any]] = [{"position": p, "id": str(p)} for p in even]
    reads: list[tuple[int, int]] = []

    def read(after: int, limit: int) -> list[dict[str, Any]]:
        reads.append((after, limit))
        return [e for e in store if e["position"] > after][:limit]

    async def take(after: int, max_events: int) -> list[dict[str, Any]]:
        return [e async for e in feed.follow(read, after, max_events=max_events, poll_seconds=9)]

    started = time.monotonic()
    got = anyio.run(take, 10, 230)
    assert time.monotonic() - started < 5  # never slept: a backlog, then max_events
    assert [e["position"] for e in got] == [p for p in range(12, 12 + 2 * 230, 2)]
    assert reads == [(10, 100), (210, 100), (410, 30)]

    async def for_a_while() -> list[dict[str, Any]]:
        follower = feed.follow(read, 490, poll_seconds=0.05, max_seconds=0.3)
        return [e async for e in follower]

    started = time.monotonic()
    assert [e["position"] for e in anyio.run(for_a_while)] == list(range(492, 502, 2))
    assert 0.3 <= time.monotonic() - started < 3


def test_domain_topics_are_trial_patient_and_reminder_events_only() -> None:
    topics = feed.DOMAIN_TOPICS
    assert "doseledger:trial.Registered" in topics and "doseledger:patient.AERecorded" in topics
    assert "doseledger:reminder.Issued" in topics
    assert all(t.startswith((*DOMAIN, "doseledger:reminder.")) for t in topics)
    assert not any(t.endswith(".Snapshot") for t in topics)


# ------------------------------------------------------------------ a real server


@pytest.fixture
def server(sqlite_url: str) -> Iterator[tuple[str, Api]]:
    """uvicorn serving a fresh SQLite store on a free loopback port, in a thread."""
    ledger = build_ledger(env=persistence_env(sqlite_url))
    api = Api(ledger)
    config = uvicorn.Config(
        api.app, host="127.0.0.1", port=0, log_config=None, timeout_graceful_shutdown=3
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", api
    finally:
        uv.should_exit = True
        thread.join(10)
        ledger.close()


def test_server_stops_streaming_when_the_client_disconnects(server: tuple[str, Api]) -> None:
    base, api = server
    register(api.ledger, 3)
    headers = api.headers("integration")
    with (
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", "/events/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()  # kept open: closing it would end the connection
        ids = [next(x for x in lines if x.startswith("id: ")).removeprefix("id: ") for _ in "abc"]
        expected = client.get("/events", headers=headers).json()["events"]
        assert ids == [e["id"] for e in expected]
        assert streams_open(client.get("/metrics", headers=headers).text) == 1
    # The client closed the connection: the server notices and ends the stream.
    with httpx.Client(base_url=base, timeout=10) as client:
        deadline = time.monotonic() + 5
        while streams_open(client.get("/metrics", headers=headers).text) != 0:
            assert time.monotonic() < deadline, "the stream outlived its client"
            time.sleep(0.05)
