"""Prometheus metrics: requests, latency, events appended, store head, projection lag, and
the read models stopped by an event they could not process (``doseledger_read_model_stopped``).

Each app has its own ``CollectorRegistry`` (tests create many apps in one process). Requests
are labelled by route *template* (``/trials/{trial_id}``), never the raw path, so ids never
become label values; unmatched paths share the label ``unmatched``. Store-derived values are
read at scrape time by a collector. Projection lag needs the read models' positions: set
``app.state.projection_positions`` to a callable returning ``{read model: position}``; until
then the lag is not reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.access import OBSERVERS
from adapters.application import DoseLedger
from adapters.http.auth import Principal, allow
from adapters.http.routers import add_routes, api_router
from adapters.http.routes.feed import problem_responses
from adapters.http.schemas import Problem

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
ProjectionPositions = Callable[[], dict[str, int]]
log = structlog.get_logger("doseledger.metrics")


class StoreCollector(Collector):
    """Values read at scrape time: events appended, store head, projection positions and lag."""

    def __init__(self, ledger: DoseLedger, state: State) -> None:
        self.ledger = ledger
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """The current values (runs in the /metrics request's worker thread)."""
        appended = CounterMetricFamily(
            "doseledger_events_appended",
            "Domain events (trial, patient) appended by this process",
        )
        appended.add_metric([], self.ledger.events_appended)
        yield appended
        head = self.ledger.recorder.max_notification_id() or 0
        yield GaugeMetricFamily(
            "doseledger_store_head_position",
            "The event store's last notification position",
            value=head,
        )
        positions = self._positions()
        if positions:
            family = GaugeMetricFamily(
                "doseledger_projection_position",
                "Each read model's tracking position",
                labels=["projection"],
            )
            for name, position in sorted(positions.items()):
                family.add_metric([name], position)
            yield family
            yield GaugeMetricFamily(
                "doseledger_projection_lag_events",
                "Store head position minus the slowest read model's position",
                value=max(0, head - min(positions.values())),
            )
            stopped = self._stopped()
            if stopped is not None:
                family = GaugeMetricFamily(
                    "doseledger_read_model_stopped",
                    "1 while a read model is stopped (an event it could not process, or one it "
                    "reads from is stopped); see doseledger projections failures",
                    labels=["read_model"],
                )
                for name in sorted(positions):
                    family.add_metric([name], 1 if name in stopped else 0)
                yield family

    def _positions(self) -> dict[str, int]:
        hook: ProjectionPositions | None = getattr(self.state, "projection_positions", None)
        if hook is None:
            return {}
        try:
            return {str(k): int(v) for k, v in hook().items()}
        except Exception as exc:  # a broken hook must not break the scrape
            log.warning("projection positions unavailable", error=str(exc))
            return {}

    def _stopped(self) -> set[str] | None:
        read_models = getattr(self.state, "read_models", None)
        if read_models is None:
            return None
        try:
            return set(read_models.stopped())
        except Exception as exc:  # the store away: the scrape still answers
            log.warning("stopped read models unavailable", error=str(exc))
            return None


class Metrics:
    """The app's registry and its HTTP metrics."""

    def __init__(self, ledger: DoseLedger, state: State) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "doseledger_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "doseledger_http_request_duration_seconds",
            "Time to the end of the response (event streams excluded)",
            ["method", "route"],
            registry=self.registry,
        )
        self.streams = Gauge(
            "doseledger_http_streams_open",
            "Open event streams (text/event-stream responses) by route template",
            ["route"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(ledger, state))

    def observe(
        self, method: str, route: str, status: int, seconds: float, *, stream: bool
    ) -> None:
        """Count one finished request (and time it, unless it was an event stream)."""
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        if not stream:
            self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format 0.0.4."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (streams pass through untouched): counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app starts a response
        stream = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                stream = any(
                    k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                    for k, v in message.get("headers", [])
                )
                if stream:
                    self.metrics.streams.labels(_route(scope)).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = _route(scope)
            if stream:
                self.metrics.streams.labels(route).dec()
            self.metrics.observe(
                scope["method"], route, status, time.perf_counter() - started, stream=stream
            )


def _route(scope: Scope) -> str:
    """The matched route's template (set by the router on the shared scope), or 'unmatched'."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class PrometheusResponse(Response):
    """The Prometheus text exposition format."""

    media_type = CONTENT_TYPE


router = api_router(
    tags=["metrics"],
    responses=problem_responses(
        {
            401: {"model": Problem, "description": "No valid API key"},
            403: {"model": Problem, "description": "The key's role may not read metrics"},
        }
    ),
)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PrometheusResponse,
    responses={
        200: {
            "description": "Prometheus text format 0.0.4",
            "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(
    request: Request,
    who: Annotated[Principal, Depends(allow(*OBSERVERS))],
) -> Any:
    """Request counts and latency by route template, events appended, store head position,
    open event streams, and (once wired) read-model positions and projection lag."""
    registry: Metrics = request.app.state.metrics
    return PrometheusResponse(registry.exposition())


def install(app: FastAPI) -> None:
    """Add the metrics middleware (outermost: call after the other middleware) and /metrics."""
    ledger: DoseLedger = app.state.ledger
    if not hasattr(app.state, "projection_positions"):
        app.state.projection_positions = None
    app.state.metrics = Metrics(ledger, app.state)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    add_routes(app, router)
