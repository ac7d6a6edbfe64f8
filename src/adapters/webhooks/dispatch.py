"""Sending the outbox's deliveries: signed POSTs, leases, retries with backoff, every attempt kept.

Signing follows the Standard Webhooks specification: ``webhook-id`` (the delivery's id, the same
on every attempt), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed by the base64-decoded
secret). A receiver verifies with any Standard Webhooks library, which also refuses stale
timestamps (replays).

Targets: each attempt resolves the URL's host again and refuses it unless every address is public
(``adapters.webhooks.targets``), then connects to that checked address. What the subscriber sees
of an attempt is generic (``failed: non-2xx``, ``failed: no answer``); the detail (a refused
connection, a non-public address) goes to the log only.

Claiming. A dispatcher takes one due delivery at a time with a conditional UPDATE (still
pending, due, and not leased or its lease expired) that sets ``locked_until`` and its own claim
token: of two dispatchers (threads or processes, SQLite or PostgreSQL) exactly one changes the
row. It then POSTs outside any transaction and records the outcome, on the delivery only while
its claim still holds. A dispatcher that dies mid-attempt leaves the lease to expire; the next
claim marks that attempt ``abandoned`` and sends again. So delivery is at least once: a receiver
de-duplicates by ``webhook-id`` (one delivery id per reminder and subscription; the reminder id
is in ``X-Doseledger-Reminder-Id``).

Retries. A 2xx is delivered. Anything else (another status, a redirect, a timeout, a refused
connection) is retried after ``RetryPolicy.delay(n)`` (10 s, 20 s, 40 s, ... capped), until the
attempt ``max_attempts``, after which the delivery is ``failed``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import structlog

from adapters.clock import Clock
from adapters.webhooks.outbox import ATTEMPTS, DELIVERIES, SUBSCRIPTIONS
from adapters.webhooks.subscriptions import SECRET_PREFIX, SECRETS, ensure_secrets_table
from adapters.webhooks.targets import TargetPolicy, TargetRefused, resolve_target
from projections.store import Store

log = structlog.get_logger("doseledger.webhooks")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
USER_AGENT = "doseledger-webhooks/1"
MAX_ERROR_LENGTH = 300
# What the subscriber is shown of a failed attempt (nothing about what answered, or how).
NON_2XX = "failed: non-2xx"
NO_ANSWER = "failed: no answer"
NO_SECRET = "failed: no signing secret (subscribed before secrets were kept: subscribe again)"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a delivery is tried."""

    base_seconds: float = 10.0
    cap_seconds: float = 3600.0
    max_attempts: int = 8
    timeout_seconds: float = 5.0
    # Longer than an attempt can take (connect and read each within the timeout).
    lease_seconds: float = 60.0

    def delay(self, attempt: int) -> dt.timedelta:
        """The wait after failed attempt ``attempt`` (1-based): base × 2^(attempt-1), capped."""
        return dt.timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


@dataclass
class DeliveryReport:
    """What one run did: events the outbox read, and the attempts by outcome."""

    events_read: int = 0  # by the outbox, enqueueing deliveries
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    lost_leases: int = 0

    def as_json(self) -> dict[str, int]:
        """The counts as plain data."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Claimed:
    """A delivery this dispatcher holds the lease of, and the attempt it is about to make."""

    delivery_id: str
    subscription_id: str
    reminder_id: str
    url: str
    reminder: dict[str, Any]
    attempt: int
    claim: str
    secret: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one POST gave: an HTTP status, or an error (a timeout, a refused connection, a
    refused target): the detail for the log, never shown to the subscriber."""

    status: int | None
    error: str | None = None

    @property
    def shown(self) -> str | None:
        """The generic result the deliveries list shows (None when delivered)."""
        if self.delivered:
            return None
        return NON_2XX if self.status is not None else NO_ANSWER

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
    keyed by the secret's base64-decoded bytes (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def micros(instant: dt.datetime) -> int:
    """An aware instant as whole microseconds since the epoch (sortable in both databases)."""
    return (instant - EPOCH) // dt.timedelta(microseconds=1)


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat()


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("the webhook clock must give aware datetimes (UTC)")
    return instant.astimezone(dt.UTC)


@dataclass
class Dispatcher:
    """Claims due deliveries from the outbox tables, POSTs them, records every attempt."""

    store: Store
    clock: Clock
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    post: Callable[[str, bytes, dict[str, str], float], Outcome] | None = None
    token: str = field(default_factory=lambda: uuid4().hex)

    def __post_init__(self) -> None:
        self.t = {
            t.name: self.store.qualified(t.name) for t in (SUBSCRIPTIONS, DELIVERIES, ATTEMPTS)
        }
        self._post = self.post or http_post
        ensure_secrets_table(self.store)
        self.t[SECRETS.name] = self.store.qualified(SECRETS.name)

    def deliver_due(self, now: dt.datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Send up to ``limit`` deliveries due at ``now`` (default: the clock, read per step)."""
        clock: Clock = self.clock if now is None else (lambda: now)
        report = DeliveryReport()
        self._expire(_utc(clock()))
        for _ in range(limit):
            claimed = self.claim_next(_utc(clock()))
            if claimed is None:
                break
            outcome = self.send(claimed, _utc(clock()))
            self.record(claimed, outcome, _utc(clock()), report)
        return report

    # ----------------------------------------------------------------- steps

    def claim_next(self, now: dt.datetime) -> Claimed | None:
        """Lease the next due delivery to this dispatcher; None when nothing is due."""
        d, s, a, k = (
            self.t["webhook_deliveries"],
            self.t["webhook_subscriptions"],
            self.t["webhook_attempts"],
            self.t[SECRETS.name],
        )
        at = micros(now)
        free = "status = 'pending' AND next_attempt_at <= ? AND locked_until <= ?"
        with self.store.transaction() as tx:
            # A few candidates: another dispatcher may take the first meanwhile (PostgreSQL).
            candidates = tx.fetchall(
                f"SELECT id FROM {d} WHERE {free} ORDER BY next_attempt_at, position LIMIT 5",
                (at, at),
            )
            for (ident,) in candidates:
                tx.execute(
                    f"UPDATE {d} SET locked_until = ?, claim = ?, attempts = attempts + 1 "
                    f"WHERE id = ? AND {free} AND attempts < ?",
                    (
                        micros(now + dt.timedelta(seconds=self.policy.lease_seconds)),
                        self.token,
                        ident,
                        at,
                        at,
                        self.policy.max_attempts,
                    ),
                )
                if tx.cursor.rowcount != 1:
                    continue
                row = tx.fetchone(
                    f"SELECT d.subscription_id, d.reminder_id, d.reminder, d.attempts, s.url, "
                    f"k.secret FROM {d} d JOIN {s} s ON s.id = d.subscription_id "
                    f"LEFT JOIN {k} k ON k.subscription_id = d.subscription_id WHERE d.id = ?",
                    (ident,),
                )
                assert row is not None
                subscription_id, reminder_id, reminder, attempt, url, secret = row
                tx.execute(
                    f"UPDATE {a} SET outcome = 'abandoned', error = ? "
                    "WHERE delivery_id = ? AND outcome = 'sending'",
                    ("the lease expired before an outcome was recorded", ident),
                )
                tx.execute(
                    f"INSERT INTO {a} (delivery_id, number, started_at, outcome) "
                    "VALUES (?, ?, ?, 'sending')",
                    (ident, attempt, _iso(now)),
                )
                return Claimed(
                    ident,
                    subscription_id,
                    reminder_id,
                    url,
                    json.loads(reminder),
                    int(attempt),
                    self.token,
                    secret,
                )
        return None

    def payload(self, claimed: Claimed, now: dt.datetime) -> bytes:
        """The JSON body of an attempt (the signature covers exactly these bytes)."""
        body = {
            "type": "reminder.issued",
            **claimed.reminder,
            "delivery_id": claimed.delivery_id,
            "subscription_id": claimed.subscription_id,
            "attempt": claimed.attempt,
            "sent_at": _iso(now),
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def send(self, claimed: Claimed, now: dt.datetime) -> Outcome:
        """POST one attempt of a claimed delivery, signed (Standard Webhooks)."""
        if claimed.secret is None:
            return Outcome(None, NO_SECRET)
        body = self.payload(claimed, now)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": claimed.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(claimed.secret, claimed.delivery_id, timestamp, body),
            "X-Doseledger-Reminder-Id": claimed.reminder_id,
            "X-Doseledger-Attempt": str(claimed.attempt),
        }
        return self._post(claimed.url, body, headers, self.policy.timeout_seconds)

    def record(
        self, claimed: Claimed, outcome: Outcome, now: dt.datetime, report: DeliveryReport
    ) -> None:
        """Keep the attempt; move the delivery on while this dispatcher's claim holds."""
        d, a = self.t["webhook_deliveries"], self.t["webhook_attempts"]
        if outcome.delivered:
            status, next_at = "delivered", None
        elif claimed.attempt >= self.policy.max_attempts or claimed.secret is None:
            status, next_at = "failed", None
        else:
            status, next_at = "pending", now + self.policy.delay(claimed.attempt)
        outcome_name = "retry" if status == "pending" else status
        with self.store.transaction() as tx:
            tx.execute(
                f"UPDATE {a} SET finished_at = ?, http_status = ?, error = ?, outcome = ?, "
                "next_attempt_at = ? WHERE delivery_id = ? AND number = ?",
                (
                    _iso(now),
                    outcome.status,
                    NO_SECRET if claimed.secret is None else outcome.shown,
                    outcome_name,
                    None if next_at is None else _iso(next_at),
                    claimed.delivery_id,
                    claimed.attempt,
                ),
            )
            tx.execute(
                f"UPDATE {d} SET status = ?, next_attempt_at = ?, locked_until = 0, claim = '', "
                "finished_at = ? WHERE id = ? AND claim = ? AND status = 'pending'",
                (
                    status,
                    micros(next_at) if next_at else 0,
                    None if next_at else _iso(now),
                    claimed.delivery_id,
                    claimed.claim,
                ),
            )
            held = tx.cursor.rowcount == 1
        report.attempted += 1
        report.delivered += status == "delivered"
        report.retrying += status == "pending"
        report.failed += status == "failed"
        report.lost_leases += not held
        say = log.info if outcome.delivered else log.warning
        say(
            "webhook attempt",
            delivery_id=claimed.delivery_id,
            subscription_id=claimed.subscription_id,
            reminder_id=claimed.reminder_id,
            kind=claimed.reminder.get("kind"),
            attempt=claimed.attempt,
            http_status=outcome.status,
            error=outcome.error,
            outcome=outcome_name,
            lease_held=held,
        )

    def _expire(self, now: dt.datetime) -> None:
        """Fail deliveries whose last attempt was abandoned (its dispatcher died)."""
        d, a = self.t["webhook_deliveries"], self.t["webhook_attempts"]
        at = micros(now)
        with self.store.transaction() as tx:
            stuck = tx.fetchall(
                f"SELECT id FROM {d} WHERE status = 'pending' AND attempts >= ? "
                "AND locked_until <= ? AND locked_until > 0",
                (self.policy.max_attempts, at),
            )
            for (ident,) in stuck:
                tx.execute(
                    f"UPDATE {a} SET outcome = 'abandoned', error = ? "
                    "WHERE delivery_id = ? AND outcome = 'sending'",
                    ("the lease expired before an outcome was recorded", ident),
                )
                tx.execute(
                    f"UPDATE {d} SET status = 'failed', locked_until = 0, claim = '', "
                    "finished_at = ? WHERE id = ? AND status = 'pending' AND locked_until <= ?",
                    (_iso(now), ident, at),
                )


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a checked address (the Host header still names the URL's host)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is verified for the URL's host name."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.context = context

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.context.wrap_socket(sock, server_hostname=self.host)


def http_post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    policy: TargetPolicy | None = None,
) -> Outcome:
    """POST to a checked public address (``resolve_target``): redirects are not followed,
    connect and read each within the timeout."""
    try:
        addresses = resolve_target(url, policy)
    except TargetRefused as exc:
        return Outcome(None, f"TargetRefused: {exc}"[:MAX_ERROR_LENGTH])
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    error = "no address"
    for address in addresses:
        connection: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            port = parts.port or 443
            context = ssl.create_default_context()
            connection = _PinnedHTTPSConnection(host, port, str(address), timeout, context)
        else:
            connection = _PinnedHTTPConnection(host, parts.port or 80, str(address), timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:  # refused, unreachable: the next address, if any
                error = f"{type(exc).__name__}: {exc}"
                continue
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read(64 * 1024)  # the body is never kept, nor shown
                return Outcome(response.status)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, ...
                return Outcome(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
        finally:
            connection.close()
    return Outcome(None, error[:MAX_ERROR_LENGTH])
