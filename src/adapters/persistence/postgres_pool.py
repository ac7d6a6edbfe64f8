"""How a pooled PostgreSQL connection is checked as it is taken: without a round trip, unless
its socket has something to say.

The library's ``POSTGRES_PRE_PING`` makes the pool run an empty query on every connection it
hands out (issue 14: after a server restart, the stale connections are replaced instead of
failing a request each). That is a round trip before every load and every insert: three of a
two-aggregate command's seven on PostgreSQL (issue 13's append benchmark).

An idle connection in the pool has no query in flight, so the server sends it nothing unless
it is going away: a restart, a fail-over or ``pg_terminate_backend`` sends a FATAL error and
closes the socket, which makes it readable. So the connection is pinged only when its socket is
readable (or psycopg already knows it closed or broke); a quiet socket is handed out as it is.
What this does not see, a connection cut without a word (a network partition), the first use
finds: a read is tried again on a new connection (``postgres_recorder._read``), a write is
answered 503 and retried by its client with its Idempotency-Key.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


class SignalledCheck:
    """The pool's check (module docstring): a ping only when the server has said something."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        """Raise if the connection is unusable (the pool then discards it and takes another)."""
        if not (conn.closed or conn.broken or _readable(conn.fileno())):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            # The server ended this one: after a restart it ended every idle one. Sweep them
            # now, so that the pool's next try (it waits about a second after a failed check,
            # longer after each further one) finds new connections, not the next dead one.
            self.pool.check()
            raise


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # any descriptor number (select() takes them below 1024)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def check_connections_when_signalled(pool: ConnectionPool[Any]) -> None:
    """Make a not yet opened pool check its connections with ``SignalledCheck``.

    The library builds the pool itself and takes only a yes or no for a check
    (``POSTGRES_PRE_PING``); psycopg_pool keeps the check it was given in ``_check``.
    """
    if getattr(pool, "_check", None) is None:
        raise RuntimeError("the pool checks no connection: POSTGRES_PRE_PING is off")
    pool._check = SignalledCheck(pool)
