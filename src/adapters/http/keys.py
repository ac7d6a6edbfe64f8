"""API keys: stored only as hashes, as an event-sourced aggregate in the ledger's own store."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Callable
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.sqlite import SQLiteAggregateRecorder

from domain.actors import ROLES, Actor
from domain.errors import CommandRefused, InvalidInput, NotFound

KEY_PREFIX = "dl_"
_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger/api-keys")
KEY_ROLES = tuple(r for r in ROLES if r != "system")


def key_hash(secret: str) -> str:
    """SHA-256 of a key: keys are 256-bit random, so a fast hash cannot be brute-forced."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(secret: str) -> UUID:
    """The ApiKey aggregate id for a secret (derived from its hash, never from the secret)."""
    return uuid5(_NAMESPACE, key_hash(secret))


class ApiKey(Aggregate):
    """One API key: who it is for, its role and site, and whether it was revoked."""

    TOPIC = "doseledger:api_key"
    class_version = 1

    class Created(Aggregate.Created):
        TOPIC = "doseledger:api_key.Created"

    class Issued(Created):
        TOPIC = "doseledger:api_key.Issued"
        class_version = 1
        name: str
        role: str
        site_id: str | None
        hint: str
        actor: dict[str, Any]

    class Event(Aggregate.Event):
        TOPIC = "doseledger:api_key.Event"

    class Revoked(Event):
        TOPIC = "doseledger:api_key.Revoked"
        class_version = 1
        reason: str
        actor: dict[str, Any]

    @event(Issued)
    def __init__(
        self,
        id: UUID,
        name: str,
        role: str,
        site_id: str | None,
        hint: str,
        actor: dict[str, Any],
    ):
        self.name = name
        self.role = role
        self.site_id = site_id
        self.hint = hint
        self.revoked = False

    @event(Revoked)
    def _revoked(self, reason: str, actor: dict[str, Any]) -> None:
        self.revoked = True

    def revoke(self, reason: str, actor: Actor) -> None:
        """Revoke the key; refused when it already is."""
        if self.revoked:
            raise CommandRefused(f"API key {self.id} is already revoked", rule="key_revoked")
        self._revoked(reason=reason, actor=actor.as_record())

    def principal(self, request_id: str | None = None, client: str | None = None) -> Actor:
        """The actor recorded on every event this key causes."""
        return Actor(
            user_id=f"key:{self.name}",
            role=self.role,
            name=self.name,
            client=client,
            request_id=request_id,
        )

    def view(self) -> dict[str, Any]:
        """The key's public description (never the secret)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "role": self.role,
            "site": self.site_id,
            "hint": self.hint,
            "revoked": self.revoked,
        }


def new_key(name: str, role: str, site_id: str | None, actor: Actor) -> tuple[str, ApiKey]:
    """A fresh secret and its (unsaved) ApiKey; the secret is shown once and never stored."""
    if role not in KEY_ROLES:
        raise InvalidInput(f"unknown role '{role}'; roles: {', '.join(KEY_ROLES)}", field="role")
    if role == "investigator" and not site_id:
        raise InvalidInput("an investigator key needs its site (--site)", field="site")
    if role != "investigator" and site_id:
        raise InvalidInput("only investigator keys are bound to a site", field="site")
    if not name.strip():
        raise InvalidInput("a key needs a name (who or what uses it)", field="name")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id(secret),
        name=name.strip(),
        role=role,
        site_id=site_id,
        hint=secret[:7] + "…",
        actor=actor.as_record(),
    )
    return secret, key


def not_found(ident: str) -> NotFound:
    """The error for an unknown key id."""
    return NotFound(f"no API key {ident}", kind="api_key", ident=ident)


class KeyRing:
    """Issue, revoke, list and check API keys in the ledger's store."""

    TOPICS = (ApiKey.Issued.TOPIC,)

    def __init__(self, app: Any) -> None:
        self.app = app
        # Live keys this ring has verified, by id. A key's only later event is its revocation,
        # so a later use only asks the store whether the key has changed since (still_live).
        self._live: dict[UUID, ApiKey] = {}
        self._probe = later_event_probe(app.recorder)

    def issue(
        self, name: str, role: str, site_id: str | None, actor: Actor
    ) -> tuple[str, dict[str, Any]]:
        """A new key: returns the secret (shown once) and its description."""
        secret, key = new_key(name, role, site_id, actor)
        self.app.save(key)
        return secret, key.view()

    def revoke(self, ident: str, reason: str, actor: Actor) -> dict[str, Any]:
        """Revoke a key by its id."""
        key = self._get(ident)
        key.revoke(reason, actor)
        self.app.save(key)
        self._live.pop(key.id, None)
        return key.view()

    def list(self) -> list[dict[str, Any]]:
        """Every key ever issued, oldest first."""
        rows = []
        for notification in self.app.recorder.select_notifications(
            None, 100_000, topics=list(self.TOPICS)
        ):
            rows.append(self._get(str(notification.originator_id)).view())
        return rows

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key for a secret, or None (unknown or revoked), as the store has it now."""
        key = self.recall(secret)
        if key is not None:
            return key if self.still_live(key) else None
        if not secret.startswith(KEY_PREFIX):
            return None
        try:
            key = self.app.repository.get(key_id(secret))
        except AggregateNotFoundError:
            return None
        if not isinstance(key, ApiKey) or key.revoked:
            return None
        self._live[key.id] = key
        return key

    def recall(self, secret: str) -> ApiKey | None:
        """The key this ring verified for a secret before, without asking the store: it may
        have been revoked since (by any process), so confirm it with ``still_live``."""
        return self._live.get(key_id(secret)) if secret.startswith(KEY_PREFIX) else None

    def still_live(self, key: ApiKey) -> bool:
        """False (and the key is forgotten) when the store holds a later event of the key:
        its revocation. One indexed read, no load of the aggregate."""
        if self._probe(key.id, key.version):
            self._live.pop(key.id, None)
            return False
        return True

    def _get(self, ident: str) -> ApiKey:
        try:
            key = self.app.repository.get(UUID(ident))
        except ValueError:
            raise InvalidInput(f"'{ident}' is not a key id (a UUID)", field="key_id") from None
        except AggregateNotFoundError:
            raise not_found(ident) from None
        if not isinstance(key, ApiKey):
            raise not_found(ident)
        return key


def later_event_probe(recorder: Any) -> Callable[[UUID, int], bool]:
    """``probe(aggregate_id, version)``: whether the store holds an event of the aggregate
    after ``version``.

    On SQLite, one statement on a connection of the calling thread's own (autocommit, query
    only), not a connection checked out of the library's pool: a key is confirmed on every
    request, and the pool's hand-over (a semaphore, a condition, a transaction) cost more
    than the indexed read itself. Elsewhere (PostgreSQL; an in-memory SQLite database, whose
    shared cache locks tables instead of using the WAL), the recorder's ``select_events``.
    """
    pool = getattr(getattr(recorder, "datastore", None), "pool", None)
    if not isinstance(recorder, SQLiteAggregateRecorder) or getattr(
        pool, "is_sqlite_memory_mode", True
    ):
        return lambda ident, version: bool(recorder.select_events(ident, gt=version, limit=1))
    database = pool.db_name
    sql = (
        f"SELECT 1 FROM {recorder.events_table_name} "
        "WHERE originator_id = ? AND originator_version > ? LIMIT 1"
    )
    local = threading.local()

    def probe(ident: UUID, version: int) -> bool:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(database, uri=True, isolation_level=None)
            connection.execute("PRAGMA query_only = ON")
            local.connection = connection
        return connection.execute(sql, (ident.hex, version)).fetchone() is not None

    return probe
