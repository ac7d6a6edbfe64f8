"""Which failures mean "the database is unavailable for now": the one list of them.

The HTTP API answers these with 503 and ``Retry-After`` (``adapters.http.problems``), never a
500: the request did not fail by its own fault, and the same request may succeed in a moment.

- The eventsourcing library wraps its driver's errors (``eventsourcing.postgres``'s
  ``get_connection``, the SQLite datastore likewise): ``OperationalError`` (a connection
  refused or lost, a lock timeout, a server shutting down; ``ConnectionUnavailableError`` of
  its SQLite pool is one too) and ``InterfaceError`` (a connection already closed).
- Code that talks to psycopg itself (the read-model store, the Idempotency-Key table, LISTEN)
  meets psycopg's own ``OperationalError`` and ``InterfaceError``; psycopg_pool's
  ``PoolTimeout``, ``PoolClosed`` and ``TooManyRequests`` are ``OperationalError``s.
- SQLite's own ``OperationalError`` ("database is locked") from the read-model store.

A wrapper whose cause is one of these (the audit chain's ``not_written``) counts too: the
``__cause__`` chain is followed. ``__context__`` is not: an error raised while handling a
database error is a fault of its own.
"""

from __future__ import annotations

import sqlite3
import sys

from eventsourcing.persistence import InterfaceError, OperationalError

RETRY_AFTER_SECONDS = 2
"""What a 503 asks the client to wait: a restart or fail-over takes seconds, and a lock timeout
(``DOSELEDGER_POSTGRES_LOCK_TIMEOUT_SECONDS``) has already waited."""


def _driver_errors() -> tuple[type[BaseException], ...]:
    # psycopg only when something loaded it: a SQLite deployment never imports the driver.
    errors: tuple[type[BaseException], ...] = (
        OperationalError,
        InterfaceError,
        sqlite3.OperationalError,
    )
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.OperationalError, psycopg.InterfaceError)
    return errors


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) says the database cannot be used now."""
    errors = _driver_errors()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, errors):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False
