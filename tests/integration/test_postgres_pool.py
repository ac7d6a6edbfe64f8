"""Pooled PostgreSQL connections are checked as they are taken, without a round trip unless
the server has said something to them (``adapters.persistence.postgres_pool``): after the
server ended them, a write and a read go through on new connections; a quiet connection is
handed out without a ping."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from adapters.application import DoseLedger
from domain.protocol import template
from support import ADMIN

# PostgreSQL only: the ``ledger`` fixture on its postgres parameter.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

PROTOCOL = template("defactinib-paclitaxel")


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pings (an empty query on a connection, psycopg_pool's check)."""
    made: list[int] = []
    real = psycopg.Connection.execute

    def counted(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == "":
            made.append(1)
        return real(conn, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counted)
    return made


def _pool(ledger: DoseLedger) -> ConnectionPool[Any]:
    pool: ConnectionPool[Any] = ledger.recorder.datastore.pool  # type: ignore[attr-defined]
    return pool


def _end_pooled_connections(ledger: DoseLedger) -> int:
    """pg_terminate_backend on every connection the ledger's pool holds; how many."""
    pool = _pool(ledger)
    held = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
    pids = [conn.info.backend_pid for conn in held]
    for conn in held:
        pool.putconn(conn)
    info = held[0].info
    with psycopg.connect(
        host=info.host, port=info.port, dbname=info.dbname, user=info.user, autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        deadline = time.monotonic() + 10
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the backends did not end"
            time.sleep(0.05)
    return len(pids)


def test_a_quiet_pooled_connection_is_handed_out_without_a_ping(
    ledger: DoseLedger, pings: list[int]
) -> None:
    trial_id = ledger.register_trial(PROTOCOL, ADMIN)
    for _ in range(5):
        ledger.trial(trial_id)
        ledger.register_trial(PROTOCOL, ADMIN)
    assert pings == []


def test_connections_the_server_ended_are_replaced_before_a_write_or_a_read_uses_them(
    ledger: DoseLedger, pings: list[int]
) -> None:
    trial_id = ledger.register_trial(PROTOCOL, ADMIN)
    ended = _end_pooled_connections(ledger)
    assert ended >= 1
    # Each ended connection is readable (the server's FATAL, then end of file): pinged, found
    # dead and replaced; the write and the reads then go through at once.
    for _ in range(ended + 1):
        ledger.register_trial(PROTOCOL, ADMIN)
        assert ledger.trial(trial_id)["id"] == str(trial_id)
    assert len(pings) >= 1
