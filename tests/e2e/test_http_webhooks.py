"""Webhook subscriptions over HTTP, and their deliveries to a real receiver, on both stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from adapters.application import DoseLedger
from domain.reminder_schedule import Reminder
from http_api import Api
from webhook_receiver import allow_local_receiver, receiver

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    api = Api(
        ledger,
        {
            "edc": ("integration", None),
            "crm": ("integration", None),
            "admin": ("admin", None),
            "monitor": ("monitor", None),
        },
    )
    with api.client:  # runs the lifespan: the app's outbox store is closed afterwards
        yield api


def test_subscribe_list_read_cancel(api: Api) -> None:
    trial_id = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    response = api.call(
        "POST",
        "/webhooks",
        "edc",
        201,
        json={
            "url": "https://edc.example.org/hooks",
            "name": "EDC",
            "kinds": ["dlt_window_end", "hold_unresolved"],
            "trial_id": trial_id,
        },
    )
    created = response.json()
    sid = created["id"]
    assert response.headers["location"] == f"/webhooks/{sid}"
    assert response.headers["cache-control"] == "no-store"
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["trial_id"], created["active"]) == (
        "https://edc.example.org/hooks",
        trial_id,
        True,
    )
    assert created["kinds"] == ["dlt_window_end", "hold_unresolved"]
    other = api.call(
        "POST", "/webhooks", "crm", 201, json={"url": "https://crm.example.com/x", "name": "CRM"}
    ).json()

    shown = api.call("GET", f"/webhooks/{sid}", "edc", 200).json()
    assert "secret" not in shown and shown["name"] == "EDC"
    assert [s["id"] for s in api.call("GET", "/webhooks", "edc", 200).json()["subscriptions"]] == [
        sid
    ]
    assert [
        s["id"] for s in api.call("GET", "/webhooks", "admin", 200).json()["subscriptions"]
    ] == [
        sid,
        other["id"],
    ]
    # Another integration key neither sees nor cancels it; an admin may.
    api.call("GET", f"/webhooks/{sid}", "crm", 404)
    api.call("DELETE", f"/webhooks/{sid}", "crm", 404)
    api.call("GET", f"/webhooks/{sid}/deliveries", "crm", 404)

    cancelled = api.call("DELETE", f"/webhooks/{sid}", "edc", 200).json()
    assert cancelled["active"] is False and cancelled["cancelled_at"] is not None
    refused = api.call("DELETE", f"/webhooks/{sid}", "edc", 422).json()
    assert refused["rule"] == "webhook_cancelled"
    api.call("DELETE", f"/webhooks/{other['id']}", "admin", 200, params={"reason": "retired"})
    api.call("GET", f"/webhooks/{uuid4()}", "admin", 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://edc.example.org/x", "name": "EDC"}, "url"),
        ({"url": "http://edc.example.org/x", "name": "EDC"}, "url"),
        ({"url": "https://127.0.0.1:8711/trials", "name": "EDC"}, "url"),
        ({"url": "edc.example.org/hooks", "name": "EDC"}, "url"),
        ({"url": "https://", "name": "EDC"}, "url"),
        ({"url": "https://user:pw@edc.example.org/", "name": "EDC"}, "url"),
        ({"url": "https://edc.example.org/", "name": "  "}, "name"),
        ({"url": "https://edc.example.org/", "name": "EDC", "kinds": ["coffee"]}, "kinds.0"),
        ({"url": "https://edc.example.org/", "name": "EDC", "kinds": []}, "kinds"),
        ({"url": "https://edc.example.org/", "name": "EDC", "trial_id": str(uuid4())}, "trial_id"),
        ({"url": "https://edc.example.org/", "name": "EDC", "trial_id": "x"}, "trial_id"),
        ({"name": "EDC"}, "url"),
    ],
)
def test_bad_input_is_refused_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    before = api.ledger.recorder.max_notification_id()
    problem = api.call("POST", "/webhooks", "edc", 422, json=body).json()
    assert problem["field"] == field, problem
    assert api.ledger.recorder.max_notification_id() == before  # nothing appended


def test_only_integration_and_admin_keys(api: Api) -> None:
    body = {"url": "https://edc.example.org/", "name": "EDC"}
    api.call("POST", "/webhooks", None, 401, json=body)
    api.call("POST", "/webhooks", None, 401, json=body, headers={"Authorization": "Bearer x"})
    api.call("POST", "/webhooks", "monitor", 403, json=body)
    api.call("GET", "/webhooks", "monitor", 403)
    api.call("GET", "/webhooks", None, 401)


def test_the_secret_is_shown_once_and_never_stored(api: Api) -> None:
    body = {"url": "https://edc.example.org/", "name": "EDC"}
    first = api.call("POST", "/webhooks", "edc", 201, json=body, headers={"Idempotency-Key": "k"})
    secret = first.json()["secret"]
    again = api.call("POST", "/webhooks", "edc", 409, json=body, headers={"Idempotency-Key": "k"})
    assert again.headers["location"] == first.headers["location"]
    assert secret not in again.text
    assert (
        len(api.call("GET", "/webhooks", "edc", 200).json()["subscriptions"]) == 1
    )  # subscribed once
    stored = api.ledger.recorder.select_notifications(None, 10_000)
    assert not any(secret.encode() in n.state for n in stored)


def test_delivery_attempts_are_visible(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local_receiver(monkeypatch)
    with receiver([500]) as app:
        created = api.call(
            "POST", "/webhooks", "edc", 201, json={"url": app.url, "name": "EDC"}
        ).json()
        sid = created["id"]
        reminder = Reminder(
            id=uuid4(),
            kind="src_decision_due",
            patient_id=None,
            trial_id=uuid4(),
            due_at=T0,
            fired_at=T0,
        )
        api.ledger.record(reminder)
        (pending,) = api.call("GET", f"/webhooks/{sid}/deliveries", "edc", 200).json()["deliveries"]
        assert (pending["status"], pending["attempts"]) == ("pending", [])
        webhooks = api.app.state.webhooks
        webhooks.run(T0)
        webhooks.run(T0 + dt.timedelta(seconds=10))
        (got,) = {r.headers["x-doseledger-reminder-id"] for r in app.received}
        assert got == str(reminder.id)
        assert app.received[-1].signed_with(created["secret"])
    (delivery,) = api.call("GET", f"/webhooks/{sid}/deliveries", "admin", 200).json()["deliveries"]
    assert delivery["reminder_id"] == str(reminder.id)
    assert (delivery["kind"], delivery["patient_id"]) == ("src_decision_due", None)
    assert delivery["status"] == "delivered"
    assert [(a["number"], a["http_status"], a["outcome"]) for a in delivery["attempts"]] == [
        (1, 500, "retry"),
        (2, 200, "delivered"),
    ]
    assert delivery["attempts"][0]["next_attempt_at"] == (T0 + dt.timedelta(seconds=10)).isoformat()


def test_subscriptions_are_listed_from_the_aggregate_index_not_the_log(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [
        api.call(
            "POST", "/webhooks", who, 201, json={"url": f"https://{who}.example.org/h", "name": who}
        ).json()["id"]
        for who in ("edc", "crm", "edc")
    ]
    read_by_topic: list[Any] = []
    select = api.ledger.recorder.select_notifications

    def spied(*args: Any, topics: Any = (), **kwargs: Any) -> Any:
        if topics:
            read_by_topic.append(topics)
        return select(*args, topics=topics, **kwargs)

    monkeypatch.setattr(api.ledger.recorder, "select_notifications", spied)
    edc = api.call("GET", "/webhooks", "edc", 200).json()["subscriptions"]
    every = api.call("GET", "/webhooks", "admin", 200, params={"limit": 2}).json()
    assert [s["id"] for s in edc] == [made[0], made[2]]  # the owner's, oldest first
    assert [s["id"] for s in every["subscriptions"]] == made[:2] and every["next"]
    assert read_by_topic == []  # the ids came from the aggregate index
