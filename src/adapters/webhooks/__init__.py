"""Webhooks: issued reminders pushed to subscribed apps, signed, retried, at least once.

- ``subscriptions``: the ``WebhookSubscription`` aggregate (in the ledger's store) and its
  service; signing secrets are random, kept in a table of their own (never in an event).
- ``targets``: https to public addresses only, checked at subscription and at every delivery.
- ``outbox``: a read model of its own that turns each ``Reminder.Issued`` into one delivery per
  matching active subscription, exactly once.
- ``dispatch``: leases due deliveries, POSTs them signed, records every attempt, retries.

``run_webhooks(ledger, clock)`` is the periodic job: it catches the outbox up with the log and
sends what is due. ``Webhooks`` keeps its store open between runs (the HTTP app holds one).

In ``serve`` the outbox is a live-only model of the process's one read-model runner
(``LiveReadModels(ledger, live_only=[Outbox])``, built by ``adapters.bootstrap``): ``Webhooks``
given that ``follower`` catches up through it, so the process follows the log once. Without
one (``doseledger scheduler``, ``webhooks`` commands) it runs the outbox alone.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

from adapters.clock import Clock
from adapters.webhooks.dispatch import EPOCH, DeliveryReport, Dispatcher, Outcome, RetryPolicy
from adapters.webhooks.outbox import ATTEMPTS, DELIVERIES, Outbox
from adapters.webhooks.subscriptions import Subscriptions
from projections.models.base import loads
from projections.read_models import ReadModels
from projections.store import Store, open_store

if TYPE_CHECKING:
    from adapters.read_models import LiveReadModels

if TYPE_CHECKING:  # the ledger imports this package's aggregate (adapters.application.aggregates)
    from adapters.application import DoseLedger

__all__ = [
    "DeliveryReport",
    "Outcome",
    "RetryPolicy",
    "Subscriptions",
    "Webhooks",
    "run_webhooks",
]
MAX_LISTED = 1000


class Webhooks:
    """The outbox and the dispatcher of one ledger's store (one user at a time)."""

    def __init__(
        self,
        ledger: DoseLedger,
        clock: Clock | None = None,
        *,
        policy: RetryPolicy | None = None,
        follower: LiveReadModels | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock or ledger.clock
        self.policy = policy or RetryPolicy()
        # The process's read-model runner feeding the outbox (None: this object runs it).
        self.follower = follower
        self._lock = threading.Lock()
        self._projections: ReadModels | None = None
        self._store: Store | None = None
        self._dispatcher: Dispatcher | None = None

    def _open(self) -> tuple[Store, Dispatcher]:
        # Opened on first use (and again after close()), like the live read models. The
        # dispatcher's connection is its own even beside a follower (whose thread uses its own).
        if self._store is None or self._dispatcher is None:
            store = self._store = open_store(self.ledger.env)
            if self.follower is None:
                self._projections = ReadModels(self.ledger, store, models=lambda s: [Outbox(s)])
            self._dispatcher = Dispatcher(store, self.clock, self.policy)
        return self._store, self._dispatcher

    def catch_up(self) -> int:
        """Enqueue the deliveries of the reminders issued since the last run; events read."""
        if self.follower is not None:
            return self.follower.catch_up()
        with self._lock:
            self._open()
            assert self._projections is not None
            return self._projections.catch_up()["processed"]

    def _ensure_schema(self) -> None:
        if self.follower is not None:
            self.follower.ensure_schema()
        elif self._projections is not None:
            self._projections.ensure_schema()

    def deliver_due(self, now: dt.datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Send up to ``limit`` due deliveries (``now``: a fixed instant; default the clock)."""
        with self._lock:
            _, dispatcher = self._open()
            self._ensure_schema()
            return dispatcher.deliver_due(now, limit=limit)

    def run(self, now: dt.datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Catch the outbox up, then send what is due."""
        read = self.catch_up()
        report = self.deliver_due(now, limit=limit)
        report.events_read = read
        return report

    def deliveries(self, subscription_id: UUID, *, limit: int = 100) -> list[dict[str, Any]]:
        """A subscription's deliveries, newest first, each with its attempts (caught up first)."""
        return self.delivery_page(subscription_id, limit=max(1, min(limit, MAX_LISTED)))[0]

    def delivery_page(
        self, subscription_id: UUID, *, before: int | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` of a subscription's deliveries, newest first, older than the log
        position ``before`` (None: from the newest), and the position to pass as ``before`` for
        the next page (None: no more). Caught up first."""
        self.catch_up()
        with self._lock:
            store, _ = self._open()
            d, a = store.qualified(DELIVERIES.name), store.qualified(ATTEMPTS.name)
            with store.snapshot() as tx:
                older = "" if before is None else " AND position < ?"
                found = tx.fetchall(
                    f"SELECT id, reminder, status, next_attempt_at, enqueued_at, "
                    f"finished_at, position FROM {d} WHERE subscription_id = ?{older} "
                    "ORDER BY position DESC LIMIT ?",
                    (str(subscription_id), *(() if before is None else (before,)), limit + 1),
                )
                rows = found[:limit]
                attempts: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in rows}
                if rows:
                    for row in tx.fetchall(
                        "SELECT delivery_id, number, started_at, finished_at, http_status, "
                        f"error, outcome, next_attempt_at FROM {a} WHERE delivery_id IN "
                        f"({', '.join('?' * len(rows))}) ORDER BY delivery_id, number",
                        [row[0] for row in rows],
                    ):
                        attempts[row[0]].append(_attempt(row))
        following = rows[-1][6] if len(found) > limit else None
        return [_delivery(row[:6], attempts[row[0]]) for row in rows], following

    def close(self) -> None:
        """Close the outbox's store connection (a follower is its owner's to close)."""
        with self._lock:
            if self._projections is not None:
                self._projections.close()  # closes the store too
            elif self._store is not None:
                self._store.close()
            self._projections = self._store = self._dispatcher = None


def _delivery(row: tuple[Any, ...], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    ident, reminder, status, next_at, enqueued_at, finished_at = row
    if status != "pending":
        next_attempt_at = None
    elif next_at == 0:
        next_attempt_at = enqueued_at  # never tried: due since it was enqueued
    else:
        next_attempt_at = (EPOCH + dt.timedelta(microseconds=next_at)).isoformat()
    return {
        "id": ident,
        **loads(reminder),
        "status": status,
        "enqueued_at": enqueued_at,
        "next_attempt_at": next_attempt_at,
        "finished_at": finished_at,
        "attempts": attempts,
    }


def _attempt(row: tuple[Any, ...]) -> dict[str, Any]:
    _, number, started_at, finished_at, http_status, error, outcome, next_at = row
    return {
        "number": number,
        "started_at": started_at,
        "finished_at": finished_at,
        "http_status": http_status,
        "error": error,
        "outcome": outcome,
        "next_attempt_at": next_at,
    }


def run_webhooks(
    ledger: DoseLedger,
    clock: Clock | None = None,
    *,
    policy: RetryPolicy | None = None,
    follower: LiveReadModels | None = None,
) -> DeliveryReport:
    """The periodic job: enqueue newly issued reminders, then send every delivery that is due
    (``follower``: the process's read-model runner, which feeds the outbox)."""
    webhooks = Webhooks(ledger, clock, policy=policy, follower=follower)
    try:
        return webhooks.run()
    finally:
        webhooks.close()
