"""Every aggregate and event class the ledger's store holds, imported so that each topic resolves.

The store holds trials and patients, API keys, issued reminders, webhook subscriptions, snapshots
and (older stores only) idempotent requests. A process decodes whatever it reads (a projections
worker reads everything), so the ledger imports this module: a topic's class is registered when
its module is imported. None of these modules imports a service, so this one never makes a cycle.
"""

from __future__ import annotations

from adapters.application.api_keys import ApiKey
from adapters.application.idempotent_request import IdempotentRequest
from adapters.persistence.snapshots import AggregateSnapshot
from adapters.webhooks.subscriptions import WebhookSubscription
from domain.patient import Patient
from domain.reminder_schedule import Reminder
from domain.trial import Trial

# Named, so that no tool takes these imports for unused ones.
STORED = (
    Trial,
    Patient,
    ApiKey,
    Reminder,
    WebhookSubscription,
    IdempotentRequest,
    AggregateSnapshot,
)
