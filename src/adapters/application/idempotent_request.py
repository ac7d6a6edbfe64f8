"""The event-sourced Idempotency-Key record of earlier versions, kept only to decode old stores.

Idempotency keys now live in a table of their own (``adapters.http.idempotency``); stores
written before hold these events, whose topics must still resolve.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event


class IdempotentRequest(Aggregate):
    """One Idempotency-Key of one API key: the request it stands for and its response."""

    TOPIC = "doseledger:idempotency"
    class_version = 1

    class Created(Aggregate.Created):
        TOPIC = "doseledger:idempotency.Created"

    class Claimed(Created):
        TOPIC = "doseledger:idempotency.Claimed"
        class_version = 1
        fingerprint: str

    class Event(Aggregate.Event):
        TOPIC = "doseledger:idempotency.Event"

    class Answered(Event):
        TOPIC = "doseledger:idempotency.Answered"
        class_version = 1
        status: int
        body: str
        headers: dict[str, str]

    class Released(Event):
        TOPIC = "doseledger:idempotency.Released"
        class_version = 1
        status: int

    class Reclaimed(Event):
        TOPIC = "doseledger:idempotency.Reclaimed"
        class_version = 1
        fingerprint: str

    @event(Claimed)
    def __init__(self, id: UUID, fingerprint: str):
        self.fingerprint = fingerprint
        self.state = "claimed"
        self.response: dict[str, Any] | None = None

    @event(Answered)
    def answer(self, status: int, body: str, headers: dict[str, str]) -> None:
        self.state = "answered"
        self.response = {"status": status, "body": body, "headers": headers}

    @event(Released)
    def release(self, status: int) -> None:
        self.state = "released"

    @event(Reclaimed)
    def reclaim(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.state = "claimed"
