"""Webhook delivery of issued reminders to a real local receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_read_models, build_reminders, build_webhooks
from adapters.webhooks import RetryPolicy, Subscriptions, Webhooks, run_webhooks
from adapters.webhooks.outbox import delivery_id
from domain.actors import Actor
from domain.protocol import template
from domain.reminder_schedule import Reminder, start_of
from support import ADMIN, day, dosing
from webhook_receiver import allow_local_receiver, receiver

APP = Actor(user_id="key:edc", role="integration")
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SECONDS = dt.timedelta(seconds=1)


class Clock:
    """An injectable clock the test moves."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> dt.datetime:
        self.now = T0 + seconds * SECONDS
        return self.now


@pytest.fixture(autouse=True)
def _local_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local_receiver(monkeypatch)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def webhooks(ledger: DoseLedger, clock: Clock) -> Iterator[Webhooks]:
    hooks = build_webhooks(ledger, clock, policy=RetryPolicy(timeout_seconds=2.0))
    try:
        yield hooks
    finally:
        hooks.close()


def subscribe(ledger: DoseLedger, url: str, **filters: Any) -> tuple[str, UUID]:
    secret, view = Subscriptions(ledger).subscribe(
        name="EDC", url=url, owner="key-1", actor=APP, **filters
    )
    return secret, UUID(view["id"])


def issue(ledger: DoseLedger, kind: str = "dlt_window_end", trial_id: UUID | None = None) -> UUID:
    """Record an issued reminder, as ``Reminders.tick`` does."""
    reminder = Reminder(
        id=uuid4(),
        kind=kind,
        patient_id=uuid4(),
        trial_id=trial_id or uuid4(),
        due_at=T0,
        fired_at=T0,
    )
    ledger.record(reminder)
    return reminder.id


def test_a_fired_reminder_reaches_the_receiver_signed(
    ledger: DoseLedger, webhooks: Webhooks
) -> None:
    trial_id, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    with receiver() as app:
        secret, sid = subscribe(ledger, app.url, kinds=["dlt_window_end"], trial_id=trial_id)
        other_secret, _ = subscribe(ledger, app.url, kinds=["src_decision_due"])
        (fired,) = [
            r for r in build_reminders(ledger).tick(start_of(day(60))) if r.kind == "dlt_window_end"
        ]
        report = webhooks.run()
        assert (report.attempted, report.delivered) == (1, 1)
        (got,) = app.received
    assert got.signed_with(secret) and not got.signed_with(other_secret)
    assert got.headers["x-doseledger-reminder-id"] == str(fired.id)
    assert got.headers["webhook-id"] == str(delivery_id(sid, fired.id))
    assert got.headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["x-doseledger-attempt"] == "1"
    assert got.headers["content-type"] == "application/json"
    body = got.json
    assert body == {
        "type": "reminder.issued",
        "reminder_id": str(fired.id),
        "kind": "dlt_window_end",
        "trial_id": str(trial_id),
        "patient_id": str(pid),
        "due_at": fired.due_at.isoformat(),
        "fired_at": start_of(day(60)).isoformat(),
        "delivery_id": str(delivery_id(sid, fired.id)),
        "subscription_id": str(sid),
        "attempt": 1,
        "sent_at": T0.isoformat(),
    }
    (delivery,) = webhooks.deliveries(sid)
    assert (delivery["status"], delivery["reminder_id"]) == ("delivered", str(fired.id))
    assert [a["http_status"] for a in delivery["attempts"]] == [200]
    assert webhooks.run().attempted == 0  # delivered once, not again


def test_a_failing_receiver_is_retried_after_the_backoff(
    ledger: DoseLedger, webhooks: Webhooks, clock: Clock
) -> None:
    with receiver([500, 503]) as app:
        secret, sid = subscribe(ledger, app.url)
        reminder_id = issue(ledger)
        assert webhooks.run().retrying == 1  # attempt 1: 500, next in 10 s
        assert webhooks.run(clock.at(9.9)).attempted == 0
        assert webhooks.run(clock.at(10)).retrying == 1  # attempt 2: 503, next in 20 s
        assert webhooks.run(clock.at(29.9)).attempted == 0
        assert webhooks.run(clock.at(30)).delivered == 1
        assert webhooks.run(clock.at(3600)).attempted == 0
        received = app.received
    assert [r.headers["x-doseledger-attempt"] for r in received] == ["1", "2", "3"]
    assert {r.headers["x-doseledger-reminder-id"] for r in received} == {str(reminder_id)}
    assert {r.json["delivery_id"] for r in received} == {str(delivery_id(sid, reminder_id))}
    assert all(r.signed_with(secret) for r in received)
    (delivery,) = webhooks.deliveries(sid)
    assert delivery["status"] == "delivered"
    assert delivery["finished_at"] == (T0 + 30 * SECONDS).isoformat()
    assert [
        (a["number"], a["http_status"], a["outcome"], a["next_attempt_at"])
        for a in delivery["attempts"]
    ] == [
        (1, 500, "retry", (T0 + 10 * SECONDS).isoformat()),
        (2, 503, "retry", (T0 + 30 * SECONDS).isoformat()),
        (3, 200, "delivered", None),
    ]


def test_after_the_last_attempt_a_delivery_fails(ledger: DoseLedger, clock: Clock) -> None:
    policy = RetryPolicy(base_seconds=10, max_attempts=3, timeout_seconds=2.0)
    with receiver(then=500) as app:
        _, sid = subscribe(ledger, app.url)
        issue(ledger)
        for seconds in (0, 10, 30, 70, 1000):
            run_webhooks(ledger, lambda s=seconds: clock.at(s), policy=policy)
        assert len(app.received) == 3
    hooks = build_webhooks(ledger, clock)
    try:
        (delivery,) = hooks.deliveries(sid)
    finally:
        hooks.close()
    assert (delivery["status"], delivery["next_attempt_at"]) == ("failed", None)
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry", "retry", "failed"]


def test_an_unreachable_receiver_is_an_error_attempt(
    ledger: DoseLedger, webhooks: Webhooks
) -> None:
    with receiver() as app:
        url = app.url
    _, sid = subscribe(ledger, url)  # nothing listens there any more
    issue(ledger)
    assert webhooks.run().retrying == 1
    ((attempt,),) = [d["attempts"] for d in webhooks.deliveries(sid)]
    # Generic: nothing about what answered (or refused) at that address.
    assert (attempt["http_status"], attempt["error"]) == (None, "failed: no answer")


def test_a_lost_lease_sends_a_duplicate_with_the_same_reminder_id(
    ledger: DoseLedger, webhooks: Webhooks, clock: Clock
) -> None:
    with receiver() as app:
        _, sid = subscribe(ledger, app.url)
        reminder_id = issue(ledger)
        webhooks.catch_up()
        # A dispatcher claims and sends, then dies before it records the outcome.
        crashed = build_webhooks(ledger, clock)
        try:
            _, dispatcher = crashed._open()
            claimed = dispatcher.claim_next(clock())
            assert claimed is not None
            assert dispatcher.send(claimed, clock()).delivered
        finally:
            crashed.close()
        assert webhooks.run(clock.at(59)).attempted == 0  # still leased
        assert webhooks.run(clock.at(60)).delivered == 1  # the lease expired: sent again
        first, second = app.received
    assert first.headers["x-doseledger-reminder-id"] == str(reminder_id)
    assert second.headers["x-doseledger-reminder-id"] == str(reminder_id)
    assert first.json["delivery_id"] == second.json["delivery_id"]
    assert (first.json["attempt"], second.json["attempt"]) == (1, 2)
    (delivery,) = webhooks.deliveries(sid)
    assert [a["outcome"] for a in delivery["attempts"]] == ["abandoned", "delivered"]
    assert "lease expired" in delivery["attempts"][0]["error"]


def test_two_dispatchers_send_each_delivery_once(ledger: DoseLedger, clock: Clock) -> None:
    with receiver(delay=0.02) as app:
        subscribe(ledger, app.url)
        reminders = {str(issue(ledger)) for _ in range(8)}
        dispatchers = [build_webhooks(ledger, clock) for _ in range(2)]
        try:
            dispatchers[0].catch_up()
            start = threading.Barrier(2)
            reports = []

            def work(hooks: Webhooks) -> None:
                start.wait()
                reports.append(hooks.deliver_due())

            threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            for hooks in dispatchers:
                hooks.close()
        got = [r.headers["x-doseledger-reminder-id"] for r in app.received]
    assert sorted(got) == sorted(reminders)  # each once
    assert sum(r.delivered for r in reports) == 8
    assert all(r.lost_leases == 0 for r in reports)


def test_a_cancelled_subscription_receives_nothing_new(
    ledger: DoseLedger, webhooks: Webhooks
) -> None:
    with receiver() as kept, receiver() as leaving:
        _, kept_id = subscribe(ledger, kept.url)
        _, leaving_id = subscribe(ledger, leaving.url)
        before = issue(ledger)
        webhooks.run()
        Subscriptions(ledger).cancel(leaving_id, "app retired", APP, owner=None)
        after = issue(ledger)
        webhooks.run()
        assert [r.headers["x-doseledger-reminder-id"] for r in kept.received] == [
            str(before),
            str(after),
        ]
        assert [r.headers["x-doseledger-reminder-id"] for r in leaving.received] == [str(before)]

        # Enqueued but not yet sent when the subscription is cancelled: never sent.
        pending = issue(ledger)
        webhooks.catch_up()
        Subscriptions(ledger).cancel(kept_id, "app retired", APP, owner=None)
        assert webhooks.run().attempted == 0
        assert len(kept.received) == 2
    statuses = {d["reminder_id"]: d["status"] for d in webhooks.deliveries(kept_id)}
    assert statuses[str(pending)] == "cancelled"


def test_filters_and_log_order_decide_who_gets_a_reminder(
    ledger: DoseLedger, webhooks: Webhooks
) -> None:
    trial = ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    with receiver() as app:
        early = issue(ledger, trial_id=trial)  # before any subscription: goes nowhere
        _, every = subscribe(ledger, app.url)
        _, of_trial = subscribe(ledger, app.url, trial_id=trial, kinds=["hold_unresolved"])
        webhooks.run()
        assert app.received == []
        issue(ledger, kind="hold_unresolved", trial_id=trial)
        issue(ledger, kind="dlt_window_end", trial_id=trial)
        issue(ledger, kind="hold_unresolved")  # another trial's
        assert webhooks.run().delivered == 4
    assert [d["kind"] for d in webhooks.deliveries(of_trial)] == ["hold_unresolved"]
    assert str(early) not in {d["reminder_id"] for d in webhooks.deliveries(every)}


def test_a_read_model_rebuild_sends_nothing_again(
    ledger: DoseLedger, webhooks: Webhooks, database_url: str
) -> None:
    with receiver() as app:
        subscribe(ledger, app.url)
        issue(ledger)
        assert webhooks.run().delivered == 1
        with build_read_models(database_url) as projections:
            assert "webhook_outbox" not in projections.names
            projections.rebuild(workers=1)
        assert webhooks.run().attempted == 0
        assert len(app.received) == 1
