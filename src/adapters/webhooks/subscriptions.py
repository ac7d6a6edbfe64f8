"""Webhook subscriptions: an event-sourced aggregate in the ledger's store, and their service.

A subscription names where issued reminders are pushed (an https URL to a public address, see
``adapters.webhooks.targets``), optionally only some kinds or one trial's. Its signing secret
(Standard Webhooks: ``whsec_`` and the base64 of 32 random bytes) is generated when subscribing,
shown once, and kept in a table of its own in the store (``webhook_secrets``), never in an
event: events are hash-chained and exported with the audit trail, and must not carry it.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from adapters.webhooks.targets import TargetPolicy, check_target
from domain.actors import Actor
from domain.errors import CommandRefused, InvalidInput, NotFound
from domain.reminder_schedule import KINDS
from projections.store import Store, Table, open_store

if TYPE_CHECKING:  # the ledger imports this module's aggregate (adapters.application.aggregates)
    from adapters.application.unit_of_work import UnitOfWork

MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# Beside the read models (``rm_webhook_secrets``), but no read model's: never rebuilt or dropped.
SECRETS = Table(
    "webhook_secrets",
    (("subscription_id", "text"), ("secret", "text"), ("created_at", "text")),
    key=("subscription_id",),
)


class WebhookSubscription(Aggregate):
    """Where issued reminders are pushed, which of them, and whether it still holds."""

    TOPIC = "doseledger:webhook"
    class_version = 1

    class Created(Aggregate.Created):
        TOPIC = "doseledger:webhook.Created"

    class Subscribed(Created):
        TOPIC = "doseledger:webhook.Subscribed"
        class_version = 1
        name: str
        url: str
        kinds: list[str] | None
        trial_id: UUID | None
        owner: str
        actor: dict[str, Any]

    class Event(Aggregate.Event):
        TOPIC = "doseledger:webhook.Event"

    class Cancelled(Event):
        TOPIC = "doseledger:webhook.Cancelled"
        class_version = 1
        reason: str
        actor: dict[str, Any]

    @event(Subscribed)
    def __init__(
        self,
        id: UUID,
        name: str,
        url: str,
        kinds: list[str] | None,
        trial_id: UUID | None,
        owner: str,
        actor: dict[str, Any],
    ):
        self.name = name
        self.url = url
        self.kinds = kinds
        self.trial_id = trial_id
        self.owner = owner
        self.active = True

    @event(Cancelled)
    def _cancelled(self, reason: str, actor: dict[str, Any]) -> None:
        self.active = False

    def cancel(self, reason: str, actor: Actor) -> None:
        """Stop pushing reminders here; refused when it already is cancelled."""
        if not self.active:
            raise CommandRefused(
                f"webhook subscription {self.id} is already cancelled", rule="webhook_cancelled"
            )
        self._cancelled(reason=reason, actor=actor.as_record())

    def matches(self, kind: str, trial_id: UUID) -> bool:
        """True when an issued reminder of this kind and trial is pushed here."""
        return (
            self.active
            and (self.kinds is None or kind in self.kinds)
            and (self.trial_id is None or self.trial_id == trial_id)
        )

    def view(self) -> dict[str, Any]:
        """The subscription's public description (never its secret)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "url": self.url,
            "kinds": self.kinds,
            "trial_id": None if self.trial_id is None else str(self.trial_id),
            "active": self.active,
            "subscribed_at": _iso(self.created_on),
            # Cancelling is the last event a subscription can have.
            "cancelled_at": None if self.active else _iso(self.modified_on),
            "version": self.version,
        }


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat()


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def ensure_secrets_table(store: Store) -> None:
    """Create the signing secrets' table when missing."""
    with store.transaction() as tx:
        store.schema_lock(tx)
        for statement in store.create_statements(SECRETS):
            tx.execute(statement)


def store_secret(store: Store, subscription_id: UUID, secret: str, at: dt.datetime) -> None:
    """Keep a subscription's signing secret (before its Subscribed event is saved)."""
    ensure_secrets_table(store)
    with store.transaction() as tx:
        tx.execute(
            f"INSERT INTO {store.qualified(SECRETS.name)} (subscription_id, secret, created_at) "
            "VALUES (?, ?, ?)",
            (str(subscription_id), secret, _iso(at)),
        )


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment."""
    url = url.strip()
    parts = urlsplit(url)
    problem = None
    if len(url) > MAX_URL_LENGTH:
        problem = f"is longer than {MAX_URL_LENGTH} characters"
    elif not url.isprintable() or any(c.isspace() for c in url):
        problem = "holds white space or control characters"
    elif parts.scheme not in ("http", "https"):
        problem = "is not an http(s) URL"
    elif not parts.hostname:
        problem = "names no host"
    elif parts.username is not None or parts.password is not None:
        problem = "must not carry credentials (verify the signature instead)"
    elif parts.fragment:
        problem = "must not have a fragment"
    else:
        try:
            parts.port  # noqa: B018 (raises on a port out of range)
        except ValueError:
            problem = "has an invalid port"
    if problem is not None:
        raise InvalidInput(f"url '{url[:200]}' {problem}", field="url")
    return url


def check_kinds(kinds: Sequence[str] | None) -> list[str] | None:
    """Known reminder kinds, each once, in the domain's order (None: every kind)."""
    if kinds is None:
        return None
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(
            f"unknown reminder kind(s) {', '.join(unknown)}; kinds: {', '.join(KINDS)}",
            field="kinds",
        )
    if not kinds:
        raise InvalidInput("kinds, when given, names at least one kind", field="kinds")
    return [k for k in KINDS if k in kinds]


class Subscriptions:
    """Subscribe, cancel, list and read webhook subscriptions in the ledger's store."""

    def __init__(self, app: Any, policy: TargetPolicy | None = None) -> None:
        self.app = app
        self.policy = policy

    def subscribe(
        self,
        *,
        name: str,
        url: str,
        owner: str,
        actor: Actor,
        kinds: Sequence[str] | None = None,
        trial_id: UUID | None = None,
        uow: UnitOfWork | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A new subscription: returns its signing secret (shown once) and its description."""
        if not name.strip():
            raise InvalidInput("a subscription needs a name (which app receives it)", field="name")
        url = check_target(check_url(url), self.policy)
        checked = check_kinds(kinds)
        if trial_id is not None:
            try:
                self.app.trial(trial_id)
            except NotFound:
                raise InvalidInput(f"no trial {trial_id}", field="trial_id") from None
        ident = uuid4()
        secret = new_secret()
        store = open_store(self.app.env)
        try:
            store_secret(store, ident, secret, dt.datetime.now(dt.UTC))
        finally:
            store.close()
        subscription = WebhookSubscription(
            id=ident,
            name=name.strip(),
            url=url,
            kinds=checked,
            trial_id=trial_id,
            owner=owner,
            actor=actor.as_record(),
        )
        self.app.record(subscription, uow=uow)
        return secret, subscription.view()

    def cancel(
        self,
        ident: UUID,
        reason: str,
        actor: Actor,
        *,
        owner: str | None,
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Cancel a subscription (``owner``: only if it is this owner's; None: any)."""
        subscription = self.get(ident, owner=owner)
        subscription.cancel(reason, actor)
        self.app.record(subscription, uow=uow)
        return subscription.view()

    def list(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The subscriptions of ``ids`` (the aggregate index's ``webhook_subscription`` ids of
        an owner, or of all, oldest first), each loaded."""
        return [self.get(UUID(ident), owner=None).view() for ident in ids]

    def get(self, ident: UUID, *, owner: str | None) -> WebhookSubscription:
        """One subscription; NotFound when it does not exist or is not ``owner``'s."""
        try:
            subscription = self.app.repository.get(ident)
        except AggregateNotFoundError:
            subscription = None
        if not isinstance(subscription, WebhookSubscription) or (
            owner is not None and subscription.owner != owner
        ):
            raise NotFound(f"no webhook subscription {ident}", kind="webhook", ident=str(ident))
        return subscription
