"""Webhook secrets, signatures, URLs and the retry schedule (no I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from uuid import uuid4

import pytest

from adapters.audit_chain import DEFAULT_AUDIT_KEY
from adapters.settings import Settings
from adapters.webhooks.dispatch import RetryPolicy, sign
from adapters.webhooks.subscriptions import check_kinds, check_url, signing_secret, webhook_key
from domain.errors import InvalidInput


def test_the_signature_is_the_hmac_of_the_raw_body() -> None:
    body = b'{"reminder_id":"r"}'
    expected = hmac.new(b"whsec_x", body, hashlib.sha256).hexdigest()
    assert sign("whsec_x", body) == f"sha256={expected}"


def test_secrets_are_derived_per_subscription_and_key() -> None:
    a, b = uuid4(), uuid4()
    assert signing_secret(b"k" * 16, a) == signing_secret(b"k" * 16, str(a))
    assert signing_secret(b"k" * 16, a) != signing_secret(b"k" * 16, b)
    assert signing_secret(b"k" * 16, a) != signing_secret(b"j" * 16, a)
    assert signing_secret(b"k" * 16, a).startswith("whsec_")


def test_the_webhook_key_falls_back_to_the_audit_key_then_the_demo_default() -> None:
    assert webhook_key({"DOSELEDGER_WEBHOOK_KEY": "w" * 16, "DOSELEDGER_AUDIT_KEY": "a" * 16}) == (
        b"w" * 16
    )
    assert webhook_key({"DOSELEDGER_AUDIT_KEY": "a" * 16}) == b"a" * 16
    assert webhook_key({}) == DEFAULT_AUDIT_KEY.encode()


def test_the_webhook_key_setting_reaches_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSELEDGER_WEBHOOK_KEY", "hooks-key-0123456789")
    assert Settings().persistence_env()["DOSELEDGER_WEBHOOK_KEY"] == "hooks-key-0123456789"
    monkeypatch.setenv("DOSELEDGER_WEBHOOK_KEY", "short")
    with pytest.raises(ValueError, match="webhook_key"):
        Settings()


def test_backoff_doubles_from_ten_seconds_up_to_the_cap() -> None:
    policy = RetryPolicy()
    delays = [policy.delay(n) / dt.timedelta(seconds=1) for n in range(1, 10)]
    assert delays == [10, 20, 40, 80, 160, 320, 640, 1280, 2560]
    assert RetryPolicy(cap_seconds=60).delay(7) == dt.timedelta(seconds=60)


@pytest.mark.parametrize(
    "url", ["https://edc.example.org/hooks?site=S01", "http://127.0.0.1:8080/x", "HTTPS://A.B"]
)
def test_http_urls_are_accepted(url: str) -> None:
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://a.b/",
        "javascript:alert(1)",
        "https:///path",
        "https://a.b:99999/",
        "https://u:p@a.b/",
        "https://a.b/#x",
        "https://a.b/ x",
        "https://a.b/" + "x" * 2000,
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_url(url)
    assert refused.value.field == "url"


def test_kinds_are_known_each_once_in_order() -> None:
    assert check_kinds(None) is None
    assert check_kinds(["hold_unresolved", "dlt_window_end", "hold_unresolved"]) == [
        "dlt_window_end",
        "hold_unresolved",
    ]
    with pytest.raises(InvalidInput, match="coffee"):
        check_kinds(["coffee"])
