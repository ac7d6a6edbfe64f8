"""The FastAPI application: composition of routers, problem handlers and request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from apscheduler.schedulers.base import BaseScheduler
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from adapters.application import DoseLedger
from adapters.application.key_ring import KeyRing
from adapters.http import consistency, metrics, problems
from adapters.http.guards import BodyGuard, Crashes
from adapters.http.idempotency import IdempotencyKeys, IdempotencyStore
from adapters.http.links import add_links
from adapters.http.openapi_parts import IDEMPOTENCY_KEY
from adapters.http.operation_ids import operation_id
from adapters.http.request_ids import RequestIds
from adapters.http.routers import add_routes
from adapters.http.routes import (
    designs,
    feed,
    health,
    patients,
    protocols,
    reads,
    reminders,
    trials,
    webhooks,
)
from adapters.http.schemas import bound_protocol_text
from adapters.http.write_slots import WriteSlots, write_slots
from adapters.read_models import LiveReadModels
from adapters.settings import Settings
from adapters.webhooks import Webhooks

log = structlog.get_logger("doseledger.http")
DOCS_ASSETS = "/docs-assets"
"""Where the docs pages' Swagger UI and ReDoc scripts, styles and favicon are served."""


def create_app(
    ledger: DoseLedger,
    *,
    read_models: LiveReadModels,
    outbox: Webhooks,
    keys: KeyRing,
    idempotency: IdempotencyStore,
    follow_read_models: bool = False,
    scheduler: Callable[[LiveReadModels], BaseScheduler] | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The API over one DoseLedger and its parts (its store also holds the API keys and the
    read models), built by ``adapters.bootstrap.build_app``: ``read_models`` the process's
    runner, ``outbox`` the webhooks it feeds, the key ring and the Idempotency-Key store.

    ``follow_read_models`` keeps the read models current in a background thread while the app
    runs (``doseledger serve``); either way a read catches up before it answers. ``scheduler``
    builds a background scheduler (the reminders tick, the webhooks) to run while the app runs,
    given the app's read models: its jobs read the reminder index and the outbox from the same
    runner. ``settings`` (default: from the environment) give the largest request body.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if follow_read_models:
            read_models.follow()
        # A new one each start: a scheduler that was shut down does not start again.
        running = scheduler(read_models) if scheduler else None
        try:
            if running:
                running.start()
            yield
        finally:
            if running and running.running:
                running.shutdown(wait=True)  # lets a tick in progress finish
            app.state.write_slots.close()  # a running write ends first
            read_models.close()
            outbox.close()
            idempotency.close()

    # /docs (Swagger UI) and /redoc load their JS and CSS from the installed fastapi-offline
    # package, served under DOCS_ASSETS: no CDN, so the docs work offline.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="doseledger",
        version="0.1.0",
        summary="Event-sourced phase I dose escalation (3+3) and toxicity management.",
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.ledger = ledger
    app.state.keys = keys
    app.state.read_models = read_models
    app.state.webhooks = outbox
    app.state.projection_positions = read_models.positions
    app.state.idempotency = idempotency
    app.state.write_slots = WriteSlots(write_slots(settings, ledger.env))
    problems.install(app)
    consistency.install(app)  # read models stopped or behind; X-Position (innermost middleware)
    # Innermost first. A crash becomes a 500 problem inside the Idempotency-Key middleware (so
    # it sees the answer, and whether the request committed); that runs after the body guard
    # and inside the request-id middleware (replays and refusals get an id too).
    app.add_middleware(Crashes)
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIds)

    for router in (
        health.router,
        protocols.router,
        designs.router,
        trials.router,
        patients.router,
        reads.router,
        reminders.router,
        feed.router,
        webhooks.router,
    ):
        add_routes(app, router)
    # Last, so its middleware is the outermost: it counts and times every request.
    metrics.install(app)
    _finish_schema(app)
    return app


def _finish_schema(app: FastAPI) -> None:
    """What the schema adds to the routes', once, by operation: every POST documents the
    ``Idempotency-Key`` header its middleware reads, and the answers their links."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for item in schema["paths"].values():
                if "post" in item:
                    item["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            add_links(schema)
            bound_protocol_text(schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
