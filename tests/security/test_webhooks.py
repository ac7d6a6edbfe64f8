"""Webhook security: no requests to internal addresses (SSRF), Standard Webhooks signatures."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.application import DoseLedger
from adapters.bootstrap import build_webhooks
from adapters.webhooks import Subscriptions
from adapters.webhooks.dispatch import Outcome, http_post
from adapters.webhooks.targets import TargetPolicy, check_target
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.reminder_schedule import Reminder
from http_api import Api
from webhook_receiver import allow_local_receiver, receiver

APP = Actor(user_id="key:edc", role="integration")
_real_getaddrinfo = socket.getaddrinfo


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """DNS as the test says for these names (every other name as usual)."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in names:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port or 443),
                )
                for a in names[host]
            ]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any attempt to connect anywhere; the attempts are kept."""
    tried: list[Any] = []

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(address)
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return tried


def issue(ledger: DoseLedger) -> UUID:
    reminder = Reminder(
        id=uuid4(),
        kind="dlt_window_end",
        patient_id=uuid4(),
        trial_id=uuid4(),
        due_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        fired_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    ledger.record(reminder)
    return reminder.id


def subscribe(ledger: DoseLedger, url: str) -> tuple[str, UUID]:
    secret, view = Subscriptions(ledger).subscribe(name="EDC", url=url, owner="k", actor=APP)
    return secret, UUID(view["id"])


# ------------------------------------------------------------------ SSRF at subscription


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8711/trials",
        "https://127.1.2.3/",
        "https://10.1.2.3/hooks",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]:8711/trials",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://240.0.0.1/",
        "https://100.64.0.1/",
        "https://localhost:8711/trials",
        "https://api.localhost/",
        "https://internal.example.com/",  # resolves to loopback (below)
        "https://mixed.example.com/",  # one public and one private address
        "http://hooks.example.com/",  # http without DOSELEDGER_WEBHOOK_ALLOW_HTTP
    ],
)
def test_internal_targets_are_refused_at_subscription_and_append_nothing(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("DOSELEDGER_WEBHOOK_ALLOW_HTTP", raising=False)
    monkeypatch.delenv("DOSELEDGER_WEBHOOK_ALLOWED_HOSTS", raising=False)
    resolving(
        monkeypatch,
        {
            "internal.example.com": ["127.0.0.1"],
            "mixed.example.com": ["93.184.216.34", "10.0.0.5"],
            "hooks.example.com": ["93.184.216.34"],
        },
    )
    before = ledger.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as refused:
        Subscriptions(ledger).subscribe(name="EDC", url=url, owner="k", actor=APP)
    assert refused.value.field == "url"
    assert ledger.recorder.max_notification_id() == before


def test_a_public_https_target_and_an_allowed_host_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolving(monkeypatch, {"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    assert check_target("https://hooks.example.com/x", TargetPolicy())
    assert check_target("https://93.184.216.34/x", TargetPolicy())
    allowed = TargetPolicy(allow_http=True, allowed_hosts=frozenset({"127.0.0.1:8711"}))
    assert check_target("http://127.0.0.1:8711/trials", allowed)
    with pytest.raises(InvalidInput):
        check_target("http://127.0.0.1:8712/trials", allowed)  # another port
    with pytest.raises(InvalidInput):
        check_target("http://127.0.0.1:8711/", TargetPolicy(allowed_hosts=allowed.allowed_hosts))


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    api = Api(ledger, {"edc": ("integration", None)})
    with api.client:
        yield api


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8711/trials", "https://127.0.0.1:8711/trials", "https://[::1]/"]
)
def test_the_api_answers_a_422_problem_naming_url(api: Api, url: str) -> None:
    before = api.ledger.recorder.max_notification_id()
    problem = api.call("POST", "/webhooks", "edc", 422, json={"url": url, "name": "x"}).json()
    assert problem["field"] == "url"
    assert api.ledger.recorder.max_notification_id() == before


# ------------------------------------------------------------------ SSRF at delivery


def test_a_name_that_later_resolves_to_a_private_address_is_refused_at_delivery(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    _, sid = subscribe(ledger, "https://hooks.example.com/x")  # public when subscribing
    issue(ledger)
    resolving(monkeypatch, {"hooks.example.com": ["93.184.216.34", "10.0.0.5"]})
    tried = no_connections(monkeypatch)
    webhooks = build_webhooks(ledger)
    try:
        report = webhooks.run()
        (delivery,) = webhooks.deliveries(sid)
    finally:
        webhooks.close()
    assert (report.attempted, report.retrying, tried) == (1, 1, [])
    (attempt,) = delivery["attempts"]
    # The subscriber learns nothing about the address: the generic outcome only.
    assert (attempt["http_status"], attempt["error"]) == (None, "failed: no answer")


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "::1", "192.168.0.9"])
def test_the_sender_itself_refuses_non_public_addresses(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.delenv("DOSELEDGER_WEBHOOK_ALLOWED_HOSTS", raising=False)
    resolving(monkeypatch, {"hooks.example.com": [address]})
    tried = no_connections(monkeypatch)
    outcome = http_post("https://hooks.example.com/", b"{}", {}, 1.0)
    assert outcome.status is None and outcome.error is not None
    assert "TargetRefused" in outcome.error and tried == []
    assert Outcome(None, outcome.error).shown == "failed: no answer"


# ------------------------------------------------------------------ Standard Webhooks


def _deliver(ledger: DoseLedger, clock: Any) -> tuple[str, Any]:
    with receiver() as app:
        secret, _ = subscribe(ledger, app.url)
        issue(ledger)
        webhooks = build_webhooks(ledger, clock)
        try:
            assert webhooks.run().delivered == 1
        finally:
            webhooks.close()
        (got,) = app.received
    return secret, got


def test_a_delivery_verifies_with_the_standard_webhooks_verifier(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_local_receiver(monkeypatch)
    secret, got = _deliver(ledger, lambda: dt.datetime.now(dt.UTC))
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["delivery_id"] == got.headers["webhook-id"]
    assert payload["type"] == "reminder.issued"
    # Tampered: the body, the id, or another subscription's secret.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"dlt_window_end", b"hold_unresolved"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body, {**got.headers, "webhook-id": str(uuid4())})
    with pytest.raises(WebhookVerificationError):
        Webhook(
            Subscriptions(ledger).subscribe(
                name="other", url="https://93.184.216.34/", owner="k", actor=APP
            )[0]
        ).verify(got.body, got.headers)


def test_a_replayed_old_delivery_fails_verification(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_local_receiver(monkeypatch)
    secret, got = _deliver(ledger, lambda: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(got.body, got.headers)
    # Moving the timestamp forward breaks the signature instead.
    fresh = {**got.headers, "webhook-timestamp": str(int(dt.datetime.now(dt.UTC).timestamp()))}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body, fresh)
