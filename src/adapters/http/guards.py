"""Plain ASGI guards: the request body's size and type, and a problem for any crash.

``BodyGuard`` refuses a body over ``DOSELEDGER_MAX_BODY_BYTES`` (413) and a body that is not
JSON by its content type (415: send ``application/json``) before anything reads it, so
neither reaches authentication, idempotency or a route (nothing is written). ``Crashes`` turns
an unhandled exception into a 500 problem with the request id, logged with its traceback (a
database that is unavailable: a 503 with ``Retry-After``, ``adapters.persistence.unavailable``); it
sits inside the Idempotency-Key middleware, which so sees a response and keeps it when the
request had committed anything.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.problems import crash_response, problem
from adapters.persistence.unavailable import database_unavailable

log = structlog.get_logger("doseledger.http")
MAX_BODY_BYTES = 1_048_576
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BodyGuard:
    """ASGI middleware: 413 for a body over the limit, 415 for a body that is not JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        content_type = headers.get("content-type")
        if length is not None and length.strip().isdigit():
            if int(length) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if int(length) > 0 and content_type is not None and not _is_json(content_type):
                await self._unsupported(scope, receive, send, content_type)
                return
            await self.app(scope, receive, send)
            return
        # No (usable) Content-Length: read the body up to the limit, then hand it on.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        body = b"".join(chunks)
        if body and content_type is not None and not _is_json(content_type):
            await self._unsupported(scope, receive, send, content_type)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Content too large",
            f"the request body is larger than {self.max_bytes} bytes",
            kind="content-too-large",
            field="body",
        )
        await response(scope, receive, send)

    async def _unsupported(
        self, scope: Scope, receive: Receive, send: Send, content_type: str
    ) -> None:
        response = problem(
            415,
            "Unsupported media type",
            f"the body is {content_type.split(';', 1)[0].strip() or 'of no type'}: "
            "send JSON with Content-Type: application/json",
            kind="unsupported-media-type",
            field="body",
        )
        await response(scope, receive, send)


class Crashes:
    """ASGI middleware: an unhandled exception becomes a logged 500 problem with the request id
    (re-raised only when the response had already started)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            state: dict[str, Any] = scope.get("state", {})
            where = {
                "method": scope["method"],
                "path": scope["path"],
                "request_id": state.get("request_id"),
            }
            if database_unavailable(exc):
                log.warning("database unavailable", error=str(exc).strip()[:300], **where)
            else:
                log.exception("unhandled error", **where)
            if started:
                raise
            await crash_response(exc, state.get("request_id"))(scope, receive, send)
