"""State-changing requests run in a pool of their own: the app's write slots.

FastAPI runs a plain ``def`` route in a worker thread of anyio's default pool (40 threads), so
every request in flight has a thread. Writes do not run side by side on SQLite (one writer):
eight requests in flight were eight threads, seven of them waiting for the store's one writer
connection and all of them taking turns at the GIL with the event loop. The routers that change
state use :class:`WriteSlotRoute`: their POST and DELETE routes run in a worker thread only once
they hold one of the app's write slots (``app.state.write_slots``, :class:`WriteSlots`); the
others wait on the event loop, in arrival order, where waiting costs nothing. Reads keep the
default pool, so a long export never holds a write back, nor a write a read. The figures:
docs/benchmarks.md.

The route is the same to FastAPI and to the OpenAPI schema: the endpoint is wrapped in a
coroutine with its signature (its annotations resolved) plus a ``Request`` parameter, which no
schema shows.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import Request
from fastapi.routing import APIRoute

from adapters.persistence.environment import SQLITE_FACTORY
from adapters.settings import Settings

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# SQLite has one writer: one state-changing request at a time (its key, its loads, its commit).
SQLITE_WRITE_SLOTS = 1
_REQUEST = "_write_slot_request"


def write_slots(settings: Settings, env: Mapping[str, str]) -> int:
    """How many state-changing requests one service process runs at once, on the store of
    the library environment ``env``: ``DOSELEDGER_WRITE_THREADS``, or as many as can write
    at once: one on SQLite (more would only wait for its one writer, in threads that take
    turns at the GIL with the event loop and the writer), one per connection of the pool and
    its overflow on PostgreSQL."""
    if settings.write_threads is not None:
        return settings.write_threads
    if env.get("PERSISTENCE_MODULE") == SQLITE_FACTORY:
        return SQLITE_WRITE_SLOTS
    pool = env.get("POSTGRES_POOL_SIZE", settings.postgres_pool_size)
    overflow = env.get("POSTGRES_MAX_OVERFLOW", settings.postgres_max_overflow)
    return int(pool) + int(overflow)


class WriteSlots:
    """``total`` slots: an anyio CapacityLimiter per event loop. A served app has one loop; a
    TestClient used without its context manager runs each request in a loop of its own, and
    a limiter waited on from another loop would never wake its waiters."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar(f"write_slots_{id(self)}")

    def limiter(self) -> anyio.CapacityLimiter:
        """The running event loop's limiter (made on first use)."""
        try:
            return self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self.total)
            self._limiter.set(limiter)
            return limiter


class WriteSlotRoute(APIRoute):
    """An APIRoute whose state-changing plain-``def`` endpoint runs in a write slot."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {method.upper() for method in kwargs.get("methods") or ()}
        if methods & STATE_CHANGING and not inspect.iscoroutinefunction(endpoint):
            endpoint = in_write_slot(endpoint)
        super().__init__(path, endpoint, **kwargs)


def in_write_slot(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint as a coroutine that runs it in a worker thread once a write slot is free."""
    signature = inspect.signature(endpoint, eval_str=True)
    request = inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)

    @functools.wraps(endpoint)
    async def run(**arguments: Any) -> Any:
        slots: WriteSlots = arguments.pop(_REQUEST).app.state.write_slots
        call = functools.partial(endpoint, **arguments)
        return await anyio.to_thread.run_sync(call, limiter=slots.limiter())

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), request]
    )
    return run
