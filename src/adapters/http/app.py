"""The FastAPI application: composition of routers, problem handlers and request ids."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from adapters.http import idempotency, metrics, problems
from adapters.http.keys import KeyRing
from adapters.http.routes import feed, health, patients, trials
from adapters.services import DoseLedger

log = structlog.get_logger("doseledger.http")


def _operation_id(route: APIRoute) -> str:
    # Clean names for generated clients: "trials-register_trial".
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(ledger: DoseLedger) -> FastAPI:
    """The API over one DoseLedger (its store also holds the API keys)."""
    app = FastAPI(
        title="doseledger",
        version="0.1.0",
        summary="Event-sourced phase I dose escalation (3+3) and toxicity management.",
        generate_unique_id_function=_operation_id,
    )
    app.state.ledger = ledger
    app.state.keys = KeyRing(ledger)
    problems.install(app)
    # Added first, so it runs inside the request-id middleware (replays get an id too).
    app.middleware("http")(idempotency.middleware)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        request.state.request_id = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = rid
        log.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            request_id=rid,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response

    app.include_router(health.router)
    app.include_router(trials.router)
    app.include_router(patients.router)
    app.include_router(feed.router)
    # Last, so its middleware is the outermost: it counts and times every request.
    metrics.install(app)
    return app
