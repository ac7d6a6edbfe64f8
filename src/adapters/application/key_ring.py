"""The API keys service: issue, revoke, list and check keys (``api_keys.ApiKey``) in the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.sqlite import SQLiteAggregateRecorder

from adapters.application import DoseLedger
from adapters.application.api_keys import KEY_PREFIX, ApiKey, key_id, new_key, not_found
from adapters.application.unit_of_work import UnitOfWork
from adapters.persistence.sqlite_recorder import ThreadReaders
from domain.actors import Actor
from domain.errors import InvalidInput


class KeyRing:
    """Issue, revoke, list and check API keys in the ledger's store."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        # Live keys this ring has verified, by id. A key's only later event is its revocation,
        # so a later use only asks the store whether the key has changed since (still_live).
        self._live: dict[UUID, ApiKey] = {}
        self._probe = later_event_probe(ledger.recorder)

    def issue(
        self,
        name: str,
        role: str,
        site_id: str | None,
        actor: Actor,
        *,
        uow: UnitOfWork | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A new key: returns the secret (shown once) and its description."""
        secret, key = new_key(name, role, site_id, actor)
        self.ledger.save(key, uow=uow)
        return secret, key.view()

    def revoke(
        self, ident: str, reason: str, actor: Actor, *, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """Revoke a key by its id."""
        key = self._get(ident)
        key.revoke(reason, actor)
        self.ledger.save(key, uow=uow)
        self._live.pop(key.id, None)
        return key.view()

    def list(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The keys of ``ids`` (the aggregate index's ``api_key`` ids, oldest first), each
        loaded: never their secrets."""
        return [self._get(ident).view() for ident in ids]

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key for a secret, or None (unknown or revoked), as the store has it now."""
        key = self.recall(secret)
        if key is not None:
            return key if self.still_live(key) else None
        if not secret.startswith(KEY_PREFIX):
            return None
        try:
            key = self.ledger.repository.get(key_id(secret))
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
            key = self.ledger.repository.get(UUID(ident))
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

    On a SQLite file, one statement on the recorder's connection of the calling thread's own
    (autocommit, query only; ``adapters.persistence.sqlite_recorder.ThreadReaders``), not a
    connection checked out of the library's pool: a key is confirmed on every request, and the
    pool's hand-over (a semaphore, a condition, a transaction) cost more than the indexed read
    itself. Elsewhere (PostgreSQL; an in-memory SQLite database, whose shared cache locks
    tables instead of using the WAL), the recorder's ``select_events``.
    """
    readers: ThreadReaders | None = getattr(recorder, "readers", None)
    if not isinstance(recorder, SQLiteAggregateRecorder) or readers is None:
        return lambda ident, version: bool(recorder.select_events(ident, gt=version, limit=1))
    sql = (
        f"SELECT 1 FROM {recorder.events_table_name} "
        "WHERE originator_id = ? AND originator_version > ? LIMIT 1"
    )

    def probe(ident: UUID, version: int) -> bool:
        return bool(readers.fetchall(sql, (ident.hex, version)))

    return probe
