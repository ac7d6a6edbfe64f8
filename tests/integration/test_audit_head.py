"""The audit chain's head as a process last committed it (``adapters.persistence.audit_head``):
a write that directly follows the process's own last write links to it without reading the
head back; any other write reads it. Whatever the interleaving of two processes' writes and
failed writes, the chain verifies (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.application import DoseLedger
from adapters.persistence import postgres_recorder, sqlite_recorder
from adapters.persistence.audit_verifier import verify
from domain.protocol import template
from support import ADMIN

PROTOCOL = template("defactinib-paclitaxel")


@pytest.fixture
def head_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the chain head read from the table (by either recorder)."""
    reads: list[int] = []
    for module in (sqlite_recorder, postgres_recorder):
        real = module.chain_head

        def counted(row: Any, real: Any = real) -> Any:
            reads.append(1)
            return real(row)

        monkeypatch.setattr(module, "chain_head", counted)
    return reads


def test_a_write_after_the_process_own_write_does_not_read_the_head(
    two_ledgers: list[DoseLedger], head_reads: list[int]
) -> None:
    first, other = two_ledgers
    first.register_trial(PROTOCOL, ADMIN)
    assert len(head_reads) == 1  # nothing remembered yet: read
    first.register_trial(PROTOCOL, ADMIN)
    first.register_trial(PROTOCOL, ADMIN)
    assert len(head_reads) == 1  # each followed this process's own last write
    other.register_trial(PROTOCOL, ADMIN)
    assert len(head_reads) == 2  # the other process remembered nothing: read
    first.register_trial(PROTOCOL, ADMIN)
    assert len(head_reads) == 3  # another process wrote in between: read
    result = verify(first.recorder)
    assert (result.ok, result.events_checked) == (True, 5), result  # one event a trial


def _conflicting_write(ledger: DoseLedger) -> None:
    """An insert the store refuses (a version already recorded): it rolls back, and on
    PostgreSQL it has used up a position of the events' sequence."""
    taken = ledger.recorder.select_notifications(start=1, limit=1)[0]
    stored = StoredEvent(taken.originator_id, taken.originator_version, taken.topic, taken.state)
    with pytest.raises((IntegrityError, PersistenceError)):
        ledger.recorder.insert_events([stored])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(st.tuples(st.sampled_from(["write", "refused"]), st.integers(0, 1)), max_size=8)
)
def test_any_interleaving_of_two_processes_and_failed_writes_keeps_one_verified_chain(
    two_ledgers: list[DoseLedger], steps: list[tuple[str, int]]
) -> None:
    # The store grows across examples: each example's writes link to the previous ones'.
    two_ledgers[0].register_trial(PROTOCOL, ADMIN)
    for kind, which in steps:
        ledger = two_ledgers[which]
        if kind == "write":
            ledger.register_trial(PROTOCOL, ADMIN)
        else:
            _conflicting_write(ledger)
    result = verify(two_ledgers[1].recorder)
    assert result.ok, result
    assert result.events_checked == len(two_ledgers[0].recorder.select_notifications(1, 10_000))
