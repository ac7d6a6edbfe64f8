"""The webhook outbox: one delivery per issued reminder and matching subscription, exactly once.

A read model of its own (not one of ``default_read_models``: a ``projections rebuild`` must never
send old reminders again), followed by a runner of its own (``ReadModels``). It reads the
subscriptions' events and ``Reminder.Issued`` in log order, so an issued reminder goes to the
subscriptions active at that point of the log: none made later, none cancelled before. The
delivery rows and
the outbox's tracking position commit in one transaction (the runner's exactly-once), and a
delivery's id is derived from subscription and reminder, so even a repeated insert adds nothing.

Cancelling a subscription also cancels its deliveries not yet made. The dispatcher
(``adapters.webhooks.dispatch``) owns the delivery rows' state after their insert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from adapters.webhooks.subscriptions import WebhookSubscription
from domain.reminder_schedule import Reminder
from projections.models.base import Handler, ReadModel, dumps, iso, recorded_at
from projections.store import Store, Table, Transaction

_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger/webhook-deliveries")

SUBSCRIPTIONS = Table(
    "webhook_subscriptions",
    (
        ("id", "text"),
        ("url", "text"),
        ("kinds", "text"),  # JSON list, or NULL for every kind
        ("trial_id", "text"),
        ("active", "int"),
    ),
    key=("id",),
)
DELIVERIES = Table(
    "webhook_deliveries",
    (
        ("id", "text"),
        ("subscription_id", "text"),
        ("reminder_id", "text"),
        ("position", "int"),  # of the Reminder.Issued notification
        ("reminder", "text"),  # JSON: the reminder's fields as delivered
        ("enqueued_at", "text"),
        ("status", "text"),  # pending, delivered, failed, cancelled
        ("attempts", "int"),
        ("next_attempt_at", "int"),  # µs since the epoch (UTC); 0: due at once
        ("locked_until", "int"),  # µs since the epoch; the lease of the dispatcher sending it
        ("claim", "text"),  # which dispatcher's lease it is
        ("finished_at", "text"),
    ),
    key=("id",),
    indexes=(("status", "next_attempt_at"), ("subscription_id", "position")),
)
ATTEMPTS = Table(
    "webhook_attempts",
    (
        ("delivery_id", "text"),
        ("number", "int"),
        ("started_at", "text"),
        ("finished_at", "text"),
        ("http_status", "int"),
        ("error", "text"),
        ("outcome", "text"),  # sending, delivered, retry, failed, abandoned
        ("next_attempt_at", "text"),
    ),
    key=("delivery_id", "number"),
)


def delivery_id(subscription_id: UUID | str, reminder_id: UUID | str) -> UUID:
    """The id of the delivery of one reminder to one subscription (the same in every process)."""
    return uuid5(_NAMESPACE, f"{subscription_id}:{reminder_id}")


@dataclass
class _Subscription:
    url: str
    kinds: list[str] | None
    trial_id: str | None
    active: bool

    def matches(self, kind: str, trial_id: str) -> bool:
        return (
            self.active
            and (self.kinds is None or kind in self.kinds)
            and (self.trial_id is None or self.trial_id == trial_id)
        )


class Outbox(ReadModel):
    """Subscriptions as of the log position, and the deliveries issued reminders enqueue."""

    name = "webhook_outbox"
    tables = (SUBSCRIPTIONS, DELIVERIES, ATTEMPTS)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._subscriptions: dict[str, _Subscription] | None = None
        self._changed: set[str] = set()
        self._cancelled: list[str] = []
        self._deliveries: list[tuple[Any, ...]] = []

    def handlers(self) -> Mapping[type, Handler]:
        return {
            WebhookSubscription.Subscribed: self.subscribed,
            WebhookSubscription.Cancelled: self.cancelled,
            Reminder.Issued: self.issued,
        }

    def subscriptions(self) -> dict[str, _Subscription]:
        """Every subscription the outbox knows (few: read once, kept between batches)."""
        if self._subscriptions is None:
            rows = self.tx.fetchall(
                "SELECT id, url, kinds, trial_id, active "
                f"FROM {self.sql_names['webhook_subscriptions']}"
            )
            self._subscriptions = {
                ident: _Subscription(url, json.loads(kinds) if kinds else None, trial, bool(active))
                for ident, url, kinds, trial, active in rows
            }
        return self._subscriptions

    def subscribed(self, position: int, event: WebhookSubscription.Subscribed) -> None:
        ident = str(event.originator_id)
        trial_id = None if event.trial_id is None else str(event.trial_id)
        self.subscriptions()[ident] = _Subscription(event.url, event.kinds, trial_id, True)
        self._changed.add(ident)

    def cancelled(self, position: int, event: WebhookSubscription.Cancelled) -> None:
        ident = str(event.originator_id)
        subscription = self.subscriptions().get(ident)
        if subscription is not None:
            subscription.active = False
            self._changed.add(ident)
        self._cancelled.append(ident)

    def issued(self, position: int, event: Reminder.Issued) -> None:
        reminder_id = str(event.originator_id)
        trial_id = str(event.trial_id)
        reminder = dumps(
            {
                "reminder_id": reminder_id,
                "kind": event.kind,
                "trial_id": trial_id,
                "patient_id": None if event.patient_id is None else str(event.patient_id),
                "due_at": iso(event.due_at),
                "fired_at": iso(event.fired_at),
            }
        )
        enqueued_at = recorded_at(event)
        for ident, subscription in self.subscriptions().items():
            if subscription.matches(event.kind, trial_id):
                self._deliveries.append(
                    (
                        str(delivery_id(ident, reminder_id)),
                        ident,
                        reminder_id,
                        position,
                        reminder,
                        enqueued_at,
                        "pending",
                        0,
                        0,
                        0,
                        "",
                        None,
                    )
                )

    def flush(self, tx: Transaction) -> None:
        subscriptions = self.subscriptions() if self._changed else {}
        columns = SUBSCRIPTIONS.column_names
        tx.executemany(
            f"INSERT INTO {self.sql_names['webhook_subscriptions']} ({', '.join(columns)}) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET active = excluded.active",
            [
                (
                    ident,
                    s.url,
                    None if s.kinds is None else dumps(s.kinds),
                    s.trial_id,
                    int(s.active),
                )
                for ident in sorted(self._changed)
                for s in (subscriptions[ident],)
            ],
        )
        tx.executemany(
            f"INSERT INTO {self.sql_names['webhook_deliveries']} "
            f"({', '.join(DELIVERIES.column_names)}) "
            f"VALUES ({', '.join('?' * len(DELIVERIES.columns))}) ON CONFLICT (id) DO NOTHING",
            self._deliveries,
        )
        # Cancelled after the inserts: a reminder issued before the cancel in this very batch
        # is not sent either.
        tx.executemany(
            f"UPDATE {self.sql_names['webhook_deliveries']} SET status = 'cancelled' "
            "WHERE subscription_id = ? AND status = 'pending'",
            [(ident,) for ident in self._cancelled],
        )
        self._changed.clear()
        self._cancelled.clear()
        self._deliveries.clear()

    def reset(self) -> None:
        self._subscriptions = None
        self._changed.clear()
        self._cancelled.clear()
        self._deliveries.clear()
