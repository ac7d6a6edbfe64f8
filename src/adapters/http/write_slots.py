"""State-changing requests run in a pool of their own: the app's write slots.

FastAPI runs a plain ``def`` route in a worker thread of anyio's default pool (40 threads), so
every request in flight has a thread. Writes do not run side by side on SQLite (one writer):
eight requests in flight were eight threads, seven of them waiting for the store's one writer
connection and all of them taking turns at the GIL with the event loop. The routers that change
state use :class:`WriteSlotRoute`: their POST and DELETE routes run in the app's write threads
(``app.state.write_slots``, :class:`WriteSlots`), as many as can write at once; the other writes
wait in the pool's queue, in arrival order, where waiting costs nothing. Reads keep the default
pool, so a long export never holds a write back, nor a write a read. The figures:
docs/benchmarks.md.

The route is the same to FastAPI and to the OpenAPI schema: the endpoint is wrapped in a
coroutine with its signature (its annotations resolved) plus a ``Request`` parameter, which no
schema shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request
from fastapi.routing import APIRoute

from adapters.persistence.environment import SQLITE_FACTORY
from adapters.settings import Settings

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# SQLite has one writer: one state-changing request at a time (its key, its loads, its commit).
SQLITE_WRITE_SLOTS = 1
_REQUEST = "_write_slot_request"
T = TypeVar("T")


def write_slots(settings: Settings, env: Mapping[str, str]) -> int:
    """How many state-changing requests one service process runs at once, on the store of
    the library environment ``env``: ``DOSELEDGER_WRITE_THREADS``, or as many as can write
    at once: one on SQLite (more would only wait for its one writer, in threads that take
    turns at the GIL with the event loop and the writer); on PostgreSQL one per connection
    the pool keeps open (``POSTGRES_POOL_SIZE``), so the overflow stays free for the reads,
    the reminders tick and the webhooks. More writes in flight only queue at the lock the
    library takes on the events table for each insert, in threads that take turns at the GIL
    (docs/benchmarks.md, "Tenth session")."""
    if settings.write_threads is not None:
        return settings.write_threads
    if env.get("PERSISTENCE_MODULE") == SQLITE_FACTORY:
        return SQLITE_WRITE_SLOTS
    return int(env.get("POSTGRES_POOL_SIZE", settings.postgres_pool_size))


class WriteSlots:
    """``total`` write threads, a thread pool of the app's own (``concurrent.futures``).

    A write is handed to the pool when it arrives and waits in the pool's queue, in arrival
    order, for a free thread; a thread that ends one write takes the next queued one at once.
    anyio's limiter instead woke the next waiter on the event loop once the loop had seen the
    previous write end, so each write also waited for the loop's turn at the GIL in between:
    a gap of the one SQLite writer's time per request (docs/benchmarks.md). The pool is not
    tied to an event loop, so a TestClient running each request in a loop of its own shares
    it too. ``close`` (the app's shutdown) lets a running write end; a later write starts a
    new pool.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._queued = 0

    @property
    def queued(self) -> int:
        """Writes handed to the pool that no thread has started yet."""
        return self._queued

    async def run(self, call: Callable[[], T]) -> T:
        """``call``'s result, run in a write thread with the caller's context variables (the
        request id of its log lines).

        Cancelled while queued (the server shutting down), it never runs. Cancelled while it
        runs, it is waited for before the cancellation goes on, so that whatever follows the
        request (the Idempotency-Key middleware) knows whether it committed.
        """
        future = self._submit(contextvars.copy_context().run, call)
        done = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            if future.cancel():
                with self._lock:
                    self._queued -= 1
                raise
            while not done.done():  # cancelled again meanwhile: still wait
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait((done,))
            if not done.cancelled():
                done.exception()  # its outcome is seen; the cancellation goes on
            raise

    def _submit(self, run: Callable[..., T], call: Callable[[], T]) -> Future[T]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.total, thread_name_prefix="doseledger-write")
            self._queued += 1
            return self._pool.submit(self._started, run, call)

    def _started(self, run: Callable[..., T], call: Callable[[], T]) -> T:
        with self._lock:
            self._queued -= 1
        return run(call)

    def close(self) -> None:
        """Let a running write end, then stop the threads (the app is shutting down)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


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
        return await slots.run(functools.partial(endpoint, **arguments))

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), request]
    )
    return run
