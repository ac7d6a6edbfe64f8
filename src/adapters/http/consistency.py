"""Reading the read models over HTTP: stopped ones, and reading your own writes across instances.

Every commit answers with ``X-Position``, the log position of its last event
(``WritePositions``). A read of a read model (cohorts, safety table, timeline, audit trail,
reminders) may send it back as ``X-Min-Position``: it is answered once this process's read
models reached it, or 409 after ``DOSELEDGER_MIN_POSITION_WAIT_SECONDS`` (at once for a
position the store has not recorded). A read of a stopped read model
(``projections.failures``) is a 503 naming it and the event it stopped at; reads of the
others answer as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.idempotency import UNIT_OF_WORK
from adapters.http.problems import problem
from adapters.read_models import LiveReadModels, PositionNotReached
from projections.failures import ReadModelStopped
from projections.queries import ReadModelQueries

T = TypeVar("T")
X_POSITION = "X-Position"
X_MIN_POSITION = "X-Min-Position"
RETRY_AFTER_STOPPED = "60"  # a stopped read model waits for a fix: no quick retry
_POSITION_HEADER = {
    X_POSITION: {
        "description": "The log position of the last event this request recorded: send it as "
        "X-Min-Position to read your own write from any instance (absent: nothing recorded)",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_READ_ERRORS = {
    "409": "The read models did not reach X-Min-Position in time (or the store has no such "
    "position): retry, or read without it",
    "503": "A read model this read needs is stopped at an event it could not process "
    "(see /readyz and `doseledger projections failures`)",
}


class ModelReads:
    """The process's read models as one request reads them (its ``X-Min-Position``)."""

    def __init__(self, live: LiveReadModels, min_position: int | None) -> None:
        self.live = live
        self.min_position = min_position

    def read(self, query: Callable[[ReadModelQueries], T], *uses: str) -> T:
        """Answer ``query`` from the read models named ``uses`` (see LiveReadModels.read)."""
        return self.live.read(
            query,
            uses,
            min_position=self.min_position,
            wait_seconds=self.live.min_position_wait_seconds,
        )


async def _model_reads(
    request: Request,
    min_position: Annotated[
        int | None,
        Header(
            alias=X_MIN_POSITION,
            ge=0,
            le=2**62,
            description="Answer only once the read models reached this log position (the "
            "X-Position of your write); 409 if they do not within the bound",
        ),
    ] = None,
) -> ModelReads:
    return ModelReads(request.app.state.read_models, min_position)


Models = Annotated[ModelReads, Depends(_model_reads)]


class WritePositions:
    """ASGI middleware: ``X-Position`` on the answer of a request that committed events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start":
                work = scope.get("state", {}).get(UNIT_OF_WORK)
                positions: Sequence[int] = getattr(work, "positions", ())
                if positions:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-position", str(max(positions)).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_position)


def install(app: FastAPI) -> None:
    """The answers of reads of stopped or lagging read models, the middleware, the schema."""

    @app.exception_handler(ReadModelStopped)
    async def stopped(_: Request, exc: ReadModelStopped) -> JSONResponse:
        return problem(
            503,
            "Read model stopped",
            str(exc),
            kind="read-model-stopped",
            headers={"Retry-After": RETRY_AFTER_STOPPED},
            stopped=[s.as_json() for s in exc.stopped],
        )

    @app.exception_handler(PositionNotReached)
    async def behind(_: Request, exc: PositionNotReached) -> JSONResponse:
        return problem(
            409,
            "Position not reached",
            str(exc),
            kind="position-not-reached",
            position=exc.position,
            reached=exc.reached,
        )

    app.add_middleware(WritePositions)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                if not isinstance(operation, dict):
                    continue
                parameters = operation.get("parameters", [])
                if any(p.get("name") == X_MIN_POSITION for p in parameters):
                    for code, description in _READ_ERRORS.items():
                        operation["responses"].setdefault(
                            code, {"description": description, "content": content}
                        )
                if method == "post":
                    for code, answer in operation.get("responses", {}).items():
                        if code.startswith("2"):
                            answer.setdefault("headers", {}).update(_POSITION_HEADER)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
