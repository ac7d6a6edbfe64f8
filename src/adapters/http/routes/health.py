"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz", summary="The store is reachable", responses={503: {"description": "not ready"}}
)
def readyz(request: Request) -> Any:
    """200 when the event store answers; 503 otherwise."""
    try:
        position = request.app.state.ledger.recorder.max_notification_id()
    except Exception as exc:  # any failure to reach the store means not ready
        return JSONResponse(
            {"status": "unavailable", "detail": str(exc).splitlines()[0]}, status_code=503
        )
    return {"status": "ready", "position": position or 0}
