"""Listing the API keys and webhook subscriptions reads the log by topic through an index on
the events' topic, not by scanning the log (admins list them; the log holds every event)."""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteDatastore

from adapters.application import DoseLedger
from adapters.bootstrap import build_key_ring
from support import ADMIN


def _query_plan(ledger: DoseLedger, topic: str) -> str:
    """What the database does for the library's own read of the log by one topic."""
    recorder = ledger.recorder
    table = recorder.events_table_name
    datastore = recorder.datastore
    if isinstance(datastore, SQLiteDatastore):
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"EXPLAIN QUERY PLAN SELECT rowid, * FROM {table} WHERE rowid>=? AND topic IN (?) "
                "ORDER BY rowid LIMIT ?",
                (1, topic, 500),
            )
            return " ".join(str(row[-1]) for row in cursor.fetchall())
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: show the index exists
        cursor.execute(
            f'EXPLAIN SELECT * FROM "{datastore.schema}"."{table}" WHERE notification_id>=%s '
            "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s",
            (1, [topic], 500),
        )
        return " ".join(str(next(iter(row.values()))) for row in cursor.fetchall())


def test_the_keys_are_listed_through_the_topic_index(ledger: DoseLedger) -> None:
    keys = build_key_ring(ledger)
    for name in ("ops", "monitor"):
        keys.issue(name, "admin", None, ADMIN)
    assert [key["name"] for key in keys.list()] == ["ops", "monitor"]
    plan = _query_plan(ledger, keys.TOPICS[0])
    assert f"{ledger.recorder.events_table_name}_topic_idx" in plan, plan
