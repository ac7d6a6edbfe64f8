"""Liveness and readiness."""

from __future__ import annotations

import os
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from adapters.http.openapi_parts import ok
from adapters.http.routers import api_router
from adapters.http.views import Health, Readiness

router = api_router(tags=["health"])


@router.get("/healthz", summary="The process is up", response_model=None, responses=ok(Health))
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store is reachable and the read models are caught up and fed",
    responses={
        **ok(Readiness),
        503: {
            "description": "not ready: store unreachable, a read model stopped at an event it "
            "could not process (`stopped`: which, where, why), or read models behind"
        },
    },
)
def readyz(request: Request) -> Any:
    """200 when the event store answers, no read model is stopped and the read models lag by
    at most the bound."""
    try:
        head, positions, stopped = request.app.state.read_models.readiness()
    except Exception as exc:  # any failure to reach the store means not ready
        return JSONResponse(
            {"status": "unavailable", "detail": (str(exc).splitlines() or [type(exc).__name__])[0]},
            status_code=503,
        )
    if stopped:
        reasons = [s.reason for s in stopped.values()]
        return JSONResponse(
            {
                "status": "read models stopped",
                "detail": "; ".join(reasons),
                "position": head,
                "stopped": [s.as_json() for s in stopped.values()],
            },
            status_code=503,
        )
    lag = head - min(positions.values(), default=head)
    bound = int(os.environ.get("DOSELEDGER_READY_MAX_LAG", "1000"))
    body = {"status": "ready", "position": head, "read_model_lag": lag, "lag_bound": bound}
    if lag > bound:
        return JSONResponse({**body, "status": "read models behind"}, status_code=503)
    return body
