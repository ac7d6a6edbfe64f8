"""The per-request check that a remembered API key was not revoked since: whether the store
holds a later event of the key, seen at once whoever recorded it (another KeyRing, another
connection, another process)."""

from __future__ import annotations

import threading
from uuid import UUID

from adapters.application import DoseLedger
from adapters.application.key_ring import later_event_probe
from adapters.bootstrap import build_key_ring, build_ledger
from adapters.persistence.environment import persistence_env
from support import ADMIN


def test_a_revocation_recorded_elsewhere_is_seen_by_the_next_check(
    ledger: DoseLedger, database_url: str
) -> None:
    ring = build_key_ring(ledger)
    secret, view = ring.issue("ward", "investigator", "S01", ADMIN)
    key = ring.authenticate(secret)
    assert key is not None and ring.still_live(key)
    other = build_ledger(env=persistence_env(database_url))  # its own connections
    try:
        build_key_ring(other).revoke(view["id"], "left", ADMIN)
    finally:
        other.close()
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(ring.still_live(key)))
    worker.start()  # a thread that never checked before (a fresh connection on SQLite)
    worker.join()
    assert seen == [False]
    assert not ring.still_live(key) and ring.authenticate(secret) is None


def test_the_probe_reads_later_events_of_one_aggregate_only(ledger: DoseLedger) -> None:
    ring = build_key_ring(ledger)
    _, first = ring.issue("first", "monitor", None, ADMIN)
    _, second = ring.issue("second", "monitor", None, ADMIN)
    probe = later_event_probe(ledger.recorder)
    first_key = ledger.repository.get(UUID(first["id"]))
    assert probe(first_key.id, first_key.version) is False
    assert probe(first_key.id, first_key.version - 1) is True
    ring.revoke(second["id"], "gone", ADMIN)
    assert probe(first_key.id, first_key.version) is False  # another key's revocation
