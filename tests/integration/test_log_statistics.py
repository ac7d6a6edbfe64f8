"""A catch-up on PostgreSQL gives the planner the event log's size before it reads it in pages.

Without statistics the planner reads the whole rest of the log and sorts it for every page
(``log_reader.know_the_log_size``); this server runs with autovacuum off, as a store just
restored would be before autovacuum's first pass.
"""

from __future__ import annotations

import psycopg
import pytest
import structlog

from adapters.bootstrap import build_ledger, build_read_models
from adapters.persistence.environment import persistence_env
from domain.protocol import template
from projections.log_reader import know_the_log_size
from support import dosing


def events_table_rows_known(url: str) -> float:
    env = persistence_env(url)
    with psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (env["POSTGRES_SCHEMA"], "doseledger_events"),
        ).fetchone()
    assert row is not None
    return float(row[0])


@pytest.mark.postgres
@pytest.mark.usefixtures("info_logs")
@pytest.mark.parametrize("read", ["catch_up", "refresh", "rebuild"])
def test_the_first_read_of_a_log_never_analysed_analyses_it_once(
    postgres_url: str, read: str
) -> None:
    ledger = build_ledger(env=persistence_env(postgres_url))
    try:
        dosing(ledger, template("defactinib-avutometinib"), count=3)
        events = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    assert events and events > 10
    assert events_table_rows_known(postgres_url) < 0  # never analysed: the planner guesses

    read_models = build_read_models(postgres_url)
    try:
        with structlog.testing.capture_logs() as logs:
            getattr(read_models, read)()  # a CLI catch-up, a live runner's, a rebuild
            read_models.catch_up()
        analysed = [e for e in logs if e["event"] == "analysed the event log for the planner"]
        assert len(analysed) == 1  # once: then the table has statistics
        assert events_table_rows_known(postgres_url) == events
        assert min(read_models.positions().values()) == events
        assert not know_the_log_size(read_models.source, read_models.store)
    finally:
        read_models.close()


def test_a_sqlite_log_needs_no_analysis(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        dosing(ledger, template("defactinib-avutometinib"))
    finally:
        ledger.close()
    read_models = build_read_models(sqlite_url)
    try:
        assert not know_the_log_size(read_models.source, read_models.store)
    finally:
        read_models.close()
