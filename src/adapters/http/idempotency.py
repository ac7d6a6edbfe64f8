"""``Idempotency-Key`` on POST commands: the same key and body give the same response, once.

Each key (scoped to the API key that sent it) is an event-sourced record in the ledger's store.
A request first *claims* the key: the claim is the record's first event, so of two parallel
requests with one key exactly one saves its claim (the other loses the optimistic-concurrency
race), runs the command, and stores the response; the other waits for that response and
replays it. The same key with another body is refused (422). A 5xx releases the claim so that
the client may retry.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http.problems import problem
from domain.state_copy import clone_aggregate

HEADER = "idempotency-key"
_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger/idempotency")
_KEPT_HEADERS = ("etag", "location", "content-type", "cache-control")
WAIT_SECONDS = 10.0


class IdempotentRequest(Aggregate):
    """One Idempotency-Key of one API key: the request it stands for and its response."""

    TOPIC = "doseledger:idempotency"
    class_version = 1
    __deepcopy__ = clone_aggregate

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


def record_id(authorization: str, key: str) -> UUID:
    """The record of one Idempotency-Key, scoped to the credentials that sent it."""
    scope = hashlib.sha256(authorization.encode()).hexdigest()
    return uuid5(_NAMESPACE, f"{scope}:{key}")


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same': method, path and body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class Idempotency:
    """Claims, answers and replays through the ledger's store (blocking calls)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def load(self, ident: UUID) -> IdempotentRequest | None:
        try:
            record = self.app.repository.get(ident)
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, IdempotentRequest) else None

    def claim(self, ident: UUID, print_: str) -> bool:
        """True when this request now owns the key (a new or released record)."""
        record = self.load(ident)
        try:
            if record is None:
                self.app.save(IdempotentRequest(id=ident, fingerprint=print_))
            elif record.state == "released":
                record.reclaim(print_)
                self.app.save(record)
            else:
                return False
        except IntegrityError:
            return False
        return True

    def finish(self, ident: UUID, status: int, body: bytes, headers: dict[str, str]) -> None:
        record = self.load(ident)
        if record is None or record.state != "claimed":
            return
        if status >= 500:
            record.release(status)
        else:
            record.answer(status, body.decode("utf-8", "replace"), headers)
        self.app.save(record)


def _replay(record: IdempotentRequest) -> Response:
    assert record.response is not None
    headers = dict(record.response["headers"])
    headers["Idempotent-Replayed"] = "true"
    if "no-store" in headers.get("cache-control", ""):
        return problem(
            409,
            "Conflict",
            "this Idempotency-Key was answered with a secret that is shown once and not kept; "
            "the resource it made is at Location",
            kind="conflict",
            headers={k: v for k, v in headers.items() if k != "content-type"},
        )
    return Response(record.response["body"], status_code=record.response["status"], headers=headers)


async def middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Apply Idempotency-Key to POST requests that carry one."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return await call_next(request)
    if not 1 <= len(key) <= 200 or not key.isprintable():
        return problem(
            422,
            "Invalid request",
            "Idempotency-Key must be 1-200 printable characters",
            kind="invalid-request",
            field="Idempotency-Key",
        )
    store = Idempotency(request.app.state.ledger)
    body = await request.body()
    ident = record_id(request.headers.get("authorization", ""), key)
    print_ = fingerprint(request.method, request.url.path, body)
    if not await run_in_threadpool(store.claim, ident, print_):
        return await _answer_duplicate(store, ident, print_)
    try:
        response = await call_next(request)
    except Exception:
        await run_in_threadpool(store.finish, ident, 500, b"", {})
        raise
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    content = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    kept = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    # A body shown once (a webhook's signing secret) is never written to the store.
    stored = b"" if "no-store" in response.headers.get("cache-control", "") else content
    await run_in_threadpool(store.finish, ident, response.status_code, stored, kept)
    return Response(content, status_code=response.status_code, headers=dict(response.headers))


async def _answer_duplicate(store: Idempotency, ident: UUID, print_: str) -> Response:
    """A repeat: replay the stored answer, refuse another body, or wait for the first."""
    waited = 0.0
    while True:
        record = await run_in_threadpool(store.load, ident)
        if record is not None and record.fingerprint != print_:
            return problem(
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used with another request body",
                kind="idempotency-key-reused",
                field="Idempotency-Key",
            )
        if record is not None and record.state == "answered":
            return _replay(record)
        if waited >= WAIT_SECONDS:
            return problem(
                409,
                "Conflict",
                "a request with this Idempotency-Key is still in progress; retry later",
                kind="conflict",
            )
        await asyncio.sleep(0.05)
        waited += 0.05


class IdempotencyKeys:
    """ASGI middleware: only POSTs that carry an Idempotency-Key take the buffered path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.buffered = BaseHTTPMiddleware(app, dispatch=middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and any(name == b"idempotency-key" for name, _ in scope["headers"])
        ):
            await self.buffered(scope, receive, send)
        else:
            await self.app(scope, receive, send)
