"""``X-Request-ID``: accepted or generated, echoed, bound to the logs, put on the actor.

``X-Request-ID`` and ``X-Client-App`` are stored on every event of the request: each may hold at
most 128 characters of letters, digits, space and ``. - _ : / @``; any other value is refused
with a 400 problem naming the header (an empty header counts as absent).

Plain ASGI rather than ``@app.middleware``: that wrapper costs a task and two streams per
request, which showed up as the largest part of the API's per-request CPU.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.problems import problem

log = structlog.get_logger("doseledger.http")
HEADER_MAX = 128
_SAFE = re.compile(r"[A-Za-z0-9 .\-_:/@]*")
CHECKED_HEADERS = ("X-Request-ID", "X-Client-App")


def header_problem(name: str, value: str) -> str | None:
    """Why a stored header's value is refused (None: accepted)."""
    if len(value) > HEADER_MAX:
        return f"{name}: {len(value)} characters; at most {HEADER_MAX} are accepted"
    if not _SAFE.fullmatch(value):
        bad = next(c for c in value if not _SAFE.fullmatch(c))
        return (
            f"{name}: character {bad!r} is not accepted; use letters, digits, space and . - _ : / @"
            f" (at most {HEADER_MAX} characters)"
        )
    return None


class RequestIds:
    """ASGI middleware: one request id per HTTP request, and one JSON log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = next(
            (
                (name, why)
                for name in CHECKED_HEADERS
                if (why := header_problem(name, headers.get(name, ""))) is not None
            ),
            None,
        )
        given = headers.get("x-request-id", "")
        rid = given if given and refused is None else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status: dict[str, Any] = {}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            if refused is None:
                await self.app(scope, receive, send_with_id)
            else:
                name, why = refused
                response = problem(400, "Bad request", why, kind="bad-request", field=name)
                await response(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status.get("code"),
                request_id=rid,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
