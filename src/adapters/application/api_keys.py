"""API keys: stored only as hashes, as an event-sourced aggregate in the ledger's own store.

The aggregate and its secret handling only (no service), so that the ledger can import it to
decode its topics; ``key_ring.KeyRing`` issues, revokes and checks keys.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

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
