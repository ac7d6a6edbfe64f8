"""Webhook secrets, signatures, URLs and the retry schedule (no I/O)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest

from adapters.webhooks.dispatch import RetryPolicy, sign
from adapters.webhooks.subscriptions import check_kinds, check_url, new_secret
from adapters.webhooks.targets import TargetPolicy
from domain.errors import InvalidInput


def test_the_signature_is_the_standard_webhooks_hmac_of_id_timestamp_and_body() -> None:
    secret = new_secret()
    body = b'{"reminder_id":"r"}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert sign(secret, "msg_1", 1_700_000_000, body) == "v1," + base64.b64encode(expected).decode()


def test_secrets_are_random_whsec_base64_of_32_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32


def test_the_webhook_target_settings_are_read_from_the_environment() -> None:
    policy = TargetPolicy.from_env(
        {
            "DOSELEDGER_WEBHOOK_ALLOW_HTTP": "1",
            "DOSELEDGER_WEBHOOK_ALLOWED_HOSTS": " hooks.lan , 10.0.0.7:8443,[::1]:9000",
        }
    )
    assert policy.allow_http
    assert policy.allows_host("HOOKS.lan", 1) and policy.allows_host("10.0.0.7", 8443)
    assert not policy.allows_host("10.0.0.7", 443)
    assert policy.allows_host("::1", 9000) and not policy.allows_host("::1", 9001)
    assert TargetPolicy.from_env({}) == TargetPolicy()


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
