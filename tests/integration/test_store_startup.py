"""Several processes starting on one PostgreSQL store at once (service instances, schedulers):
the library's table, index and function DDL must not race."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env

STARTERS = 6


def _start_together(url: str) -> list[str]:
    """Open STARTERS ledgers on ``url`` at the same instant; the errors they raised."""
    barrier = threading.Barrier(STARTERS)

    def start() -> str:
        barrier.wait()
        try:
            ledger = build_ledger(env=persistence_env(url))
        except Exception as error:  # the test reports every failure
            return f"{type(error).__name__}: {error}"
        ledger.close()
        return ""

    with ThreadPoolExecutor(STARTERS) as pool:
        return [e for e in pool.map(lambda _: start(), range(STARTERS)) if e]


@pytest.mark.postgres
def test_ledgers_starting_at_once_on_a_new_and_on_an_existing_store_all_start(
    postgres_url: str,
) -> None:
    assert _start_together(postgres_url) == []  # tables created by one, found by the others
    for _ in range(3):  # CREATE OR REPLACE FUNCTION on existing tables raced here
        assert _start_together(postgres_url) == []
    ledger = build_ledger(env=persistence_env(postgres_url))
    try:
        assert ledger.recorder.max_notification_id() in (None, 0)
    finally:
        ledger.close()
