"""The runner's reader of the log (``log_reader.notification_reader``) gives the recorder's own
pages: the same notifications in the same order, of the topics asked for, up to ``until``; the
originator ids as UUIDs, or as their text for a runner that decodes no domain event (on
PostgreSQL the server writes that text, as ``str(UUID)`` would)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import Notification

from adapters.bootstrap import build_ledger, build_read_models
from adapters.persistence.environment import persistence_env
from domain.protocol import template
from projections.log_reader import notification_reader
from projections.store import PostgresStore
from support import dosing


def fields(page: Sequence[Notification]) -> list[tuple[int, int, str, bytes]]:
    """What the pages must share, but the originator ids."""
    return [(n.id, n.originator_version, n.topic, bytes(n.state)) for n in page]


def test_the_readers_pages_are_the_recorders(database_url: str) -> None:
    ledger = build_ledger(env=persistence_env(database_url))
    try:
        dosing(ledger, template("defactinib-avutometinib"), count=3)
    finally:
        ledger.close()
    read_models = build_read_models(database_url)
    try:
        source, store = read_models.source, read_models.store
        recorder = source.recorder
        head = recorder.max_notification_id() or 0
        assert head > 10
        topics = sorted({n.topic for n in recorder.select_notifications(0, head)})[:2]
        for wanted in ((), topics):
            expected = recorder.select_notifications(
                3, 5, stop=head - 2, topics=wanted, inclusive_of_start=False
            )
            assert expected
            for uuids in (True, False):
                read = notification_reader(source, store, wanted, uuids=uuids)
                page = read(3, 5, head - 2)
                assert fields(page) == fields(expected)
                ids = [n.originator_id for n in page]
                if uuids:
                    assert ids == [n.originator_id for n in expected]
                    assert all(isinstance(i, UUID) for i in ids)
                else:  # as stored: SQLite's hex, PostgreSQL's text of its uuid
                    assert all(type(i) is str for i in ids)
                    assert [UUID(i) for i in ids] == [n.originator_id for n in expected]
                    if isinstance(store, PostgresStore):
                        assert ids == [str(n.originator_id) for n in expected]
    finally:
        read_models.close()
