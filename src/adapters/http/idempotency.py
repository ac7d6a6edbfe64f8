"""``Idempotency-Key`` on POST commands: the same key and body give the same response, once.

Only an authenticated caller whose role the route admits gets here: the key is scoped to the
caller's API key (its id), so another key with the same Idempotency-Key is another request,
and a request that fails authentication or its role check writes nothing (a refusal found
inside the route, such as another site's patient, releases its claim). The records are
operational data, not audit facts: they live in a table of their own next to the events
(``idempotency_keys`` in the SQLite file, ``doseledger_idempotency_keys`` in the PostgreSQL
schema), never in the event store, and expire (``DOSELEDGER_IDEMPOTENCY_TTL_SECONDS``).

A request first *claims* its key (an insert that only one of parallel requests wins) for a
lease (``DOSELEDGER_IDEMPOTENCY_LEASE_SECONDS``, renewed while it runs); the others wait for its
answer and replay it. A claim whose owner is gone (its lease ran out, or on PostgreSQL its
owner's session ended: ``adapters.http.idempotency_store``) is taken over by the next retry,
which then runs the request. Two bodies are the same when their JSON is (parsed and
written again with sorted keys): whitespace and key order do not matter; the same key with
another body is a 422.

Only answers that do not depend on anything the client can fix are kept: 2xx, and the request
validation errors of the request itself (400, 422; the handlers mark them). Anything else (401,
403, 404, 409, 412, a domain refusal) releases the claim, so that a corrected retry runs. A
request that committed events never releases its claim, whatever its answer: a 500 after a
commit is kept and replayed, so a retry never records twice. Each commit marks the claim in its
own transaction (``adapters.persistence.claim_fence``): a process that dies between its commit
and keeping its answer leaves the key ``committed``, and a retry after the lease is told the
request was recorded (409 ``request-recorded``, with the aggregates and versions it recorded),
never runs it again; a process whose lease was taken over while it stalled cannot commit (its
events roll back, 409).

``IdempotentRequest`` (``adapters.application.idempotent_request``) was the event-sourced record
of earlier versions: old stores hold its events, so its topics stay decodable; nothing new is
written to the event store.

The request's commits are counted and fenced by its ``UnitOfWork``
(``adapters.application.unit_of_work``): this middleware puts the claim's fence on the
request's state (``FENCE``), the routes' unit-of-work dependency (``adapters.http.deps``) takes
it from there and puts the unit of work on the state (``UNIT_OF_WORK``), where this middleware
reads the commits back after the response.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http.idempotency_store import IdempotencyStore, Record
from adapters.http.problems import problem, service_unavailable
from adapters.persistence.claim_fence import ClaimFence
from adapters.persistence.unavailable import database_unavailable

__all__ = ["IdempotencyKeys", "IdempotencyStore", "Record", "canonical_body", "fingerprint"]

HEADER = "idempotency-key"
_KEPT_HEADERS = ("etag", "location", "content-type", "cache-control")
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
# Set on the request's state by the request-validation problem handlers: an answer about the
# request itself, which the same request always gets again (kept for a replay).
STORABLE = "idempotency_storable"
# The request state's attributes: the claim fence set here, the unit of work set by the routes.
FENCE = "claim_fence"
UNIT_OF_WORK = "unit_of_work"
log = structlog.get_logger("doseledger.http")


def canonical_body(body: bytes) -> bytes:
    """The body as compared: JSON parsed and written again with sorted keys (whitespace and
    key order do not matter); a body that is not JSON, as it is."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests 'the same': method, path, query and canonical body."""
    head = f"{method} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical_body(body)).hexdigest()


def _replay(record: Record) -> Response:
    headers = dict(record.headers)
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
    assert record.status is not None
    return Response(record.body or "", status_code=record.status, headers=headers)


def _recorded_unanswered(record: Record) -> Response:
    """The answer to a retry of a request that committed but whose process stopped before it
    answered (its lease ran out): not run again; what it recorded, to read."""
    recorded = json.loads(record.body or "{}").get("recorded", [])
    return problem(
        409,
        "Request already recorded",
        "this Idempotency-Key's request was recorded, but the process that ran it stopped "
        "before answering; it is not run again: read the aggregates it recorded",
        kind="request-recorded",
        headers={"Idempotent-Replayed": "true"},
        recorded=recorded,
    )


def _roles(request: Request) -> tuple[str, ...] | None:
    """The roles the matched route admits (None: no route, or one that needs no key)."""
    for route in request.app.routes:  # the app's own (adapters.http.routers)
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] == Match.FULL:
            pending = list(route.dependant.dependencies)
            while pending:
                dependant = pending.pop()
                roles = getattr(dependant.call, "roles", None)
                if roles is not None:
                    return tuple(roles)
                pending.extend(dependant.dependencies)
            return None
    return None


async def _caller(request: Request) -> str | None:
    """The id of the caller's live API key when its role may use the route, else None (the
    route then answers 401 or 403 itself, and nothing is written here)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    roles = _roles(request)
    if roles is None:
        return None
    key = await run_in_threadpool(request.app.state.keys.authenticate, secret.strip())
    if key is None or key.role not in roles:
        return None
    return str(key.id)


async def middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Apply Idempotency-Key to POST requests that carry one (authenticated callers only); a
    database unavailable to the claim (or to authentication) is a 503, as in a route."""
    try:
        return await _idempotent(request, call_next)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        rid = getattr(request.state, "request_id", None)
        log.warning("database unavailable", error=str(exc).strip()[:300], request_id=rid)
        return service_unavailable(rid)


async def _idempotent(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return await call_next(request)
    principal = await _caller(request)
    if principal is None:
        return await call_next(request)
    if not 1 <= len(key) <= 200 or not key.isprintable():
        return problem(
            422,
            "Invalid request",
            "Idempotency-Key must be 1-200 printable characters",
            kind="invalid-request",
            field="Idempotency-Key",
        )
    store: IdempotencyStore = request.app.state.idempotency
    body = await request.body()
    print_ = fingerprint(request.method, request.url.path, request.url.query, body)
    waited = 0.0
    while True:
        claimed = await run_in_threadpool(store.claim, principal, key, print_)
        if isinstance(claimed, str):
            break
        if claimed.fingerprint != print_:
            return problem(
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used with another request body",
                kind="idempotency-key-reused",
                field="Idempotency-Key",
            )
        if claimed.state == "answered":
            return _replay(claimed)
        if claimed.state == "committed" and claimed.owner_gone:
            return _recorded_unanswered(claimed)
        if waited >= WAIT_SECONDS:
            return problem(
                409,
                "Conflict",
                "a request with this Idempotency-Key is still in progress; retry later",
                kind="conflict",
            )
        await asyncio.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
    return await _run(request, call_next, store, principal, key, claimed)


async def _run(
    request: Request,
    call_next: Callable[[Request], Awaitable[Response]],
    store: IdempotencyStore,
    principal: str,
    key: str,
    token: str,
) -> Response:
    """Run the claimed request; keep its answer, or give the claim up if nothing was
    committed and the answer may change when the client fixes something."""
    fence = ClaimFence(store.table, principal, key, token, lease_seconds=store.lease)
    setattr(request.state, FENCE, fence)

    def committed() -> bool:
        work = getattr(request.state, UNIT_OF_WORK, None)
        return work is not None and work.committed

    heartbeat = asyncio.create_task(_keep_lease(store, principal, key, token))
    try:
        response = await call_next(request)
    except BaseException:
        # Not expected (the crash middleware inside answers a 500), but never lose a commit.
        if committed():
            await _quietly(store.answer, principal, key, token, 500, _lost_answer(request), {})
        else:
            await _quietly(store.release, principal, key, token)
        raise
    else:
        chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    finally:
        heartbeat.cancel()
    content = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    headers = dict(response.headers)
    status = response.status_code
    was_committed = committed()
    if was_committed and status == 503:
        # Recorded, then the database went away: nothing more can be kept. A retry (after
        # Retry-After) is told at once that the request was recorded, and what it recorded.
        await _quietly(store.abandon, principal, key, token)
        return _unbuffered(content, status, headers)
    if was_committed and status >= 500:
        content = _lost_answer(request).encode()
        headers = {"content-type": "application/problem+json"}
    storable = 200 <= status < 300 or getattr(request.state, STORABLE, False)
    if was_committed or storable:
        kept = {k: v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
        # A body shown once (a webhook's signing secret) is never written to the store.
        stored = b"" if "no-store" in headers.get("cache-control", "") else content
        await _quietly(
            store.answer, principal, key, token, status, stored.decode("utf-8", "replace"), kept
        )
    else:
        await _quietly(store.release, principal, key, token)
    return _unbuffered(content, status, headers)


def _unbuffered(content: bytes, status: int, headers: dict[str, str]) -> Response:
    headers.pop("content-length", None)
    return Response(content, status_code=status, headers=headers)


async def _quietly(call: Callable[..., None], *args: Any) -> None:
    """Keep an answer or give a claim up; when the database is unavailable, leave the claim as
    it is: its owner lock went with the connection (PostgreSQL) or its lease runs out, and the
    retry then runs the request, or is told it was recorded."""
    try:
        await run_in_threadpool(call, *args)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("idempotency claim left to its lease", error=str(exc).strip()[:300])


async def _keep_lease(store: IdempotencyStore, principal: str, key: str, token: str) -> None:
    """Renew a running request's lease, so that only a dead process's claim expires."""
    while True:
        await asyncio.sleep(store.lease / 3)
        await _quietly(store.extend, principal, key, token)


def _lost_answer(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return json.dumps(
        {
            "type": "https://doseledger.example/problems/internal-error",
            "title": "Internal server error",
            "status": 500,
            "detail": "the request was recorded, but its answer failed; this Idempotency-Key "
            "replays this answer (it is not run again): read the resource to see its state",
            "request_id": rid,
        }
    )


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
            try:
                await self.buffered(scope, receive, send)
            except ClientDisconnect:
                # The client hung up while sending its body: nothing was claimed or recorded
                # (the claim needs the whole body) and nobody is left to answer.
                log.info(
                    "client disconnected before its request body was read",
                    method="POST",
                    path=scope["path"],
                )
        else:
            await self.app(scope, receive, send)
