"""Two races of the Idempotency-Key table, each of which let one key record twice (found by
``test_same_idempotency_key_in_parallel_records_one_set_of_events`` failing once in CI):

- requests arriving together at first use each opened a connection; the one not kept was
  closed with its session's owner lock while its request ran, and a waiting request took
  the claim over ("its owner's session ended");
- a take-over read the claim as still ``claimed``, then its UPDATE (keyed on the token only)
  went through after the owner's events transaction had marked it ``committed``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from adapters.application import DoseLedger
from adapters.http import idempotency_store
from adapters.http.idempotency_store import IdempotencyStore
from adapters.persistence.claim_fence import ClaimFence


def test_requests_arriving_together_at_first_use_share_one_connection(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    real = idempotency_store.open_store

    def slow_open(env: Any) -> Any:
        time.sleep(0.05)  # the window in which the others arrive
        store = real(env)
        opened.append(store)
        return store

    monkeypatch.setattr(idempotency_store, "open_store", slow_open)
    store = IdempotencyStore(ledger.env)
    tokens: list[Any] = []
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        barrier.wait()
        tokens.append(store.claim("principal", f"key-{n}", "print"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(opened) == 1
        assert len(tokens) == 4 and all(isinstance(t, str) for t in tokens)
        assert store.count() == 4
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_claim_committed_after_it_was_read_is_not_taken_over(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    store = IdempotencyStore(ledger.env, lease_seconds=30, clock=lambda: now[0])
    first = store.claim("principal", "k", "print")
    assert isinstance(first, str)
    store.close()  # the owner's session ends (its owner lock with it) ...
    now[0] += 60  # ... and its lease has run out: a retry may take the claim over
    retry = IdempotencyStore(ledger.env, lease_seconds=30, clock=lambda: now[0])
    owner = IdempotencyStore(ledger.env)  # the owner's events transaction, on its own session
    fence = ClaimFence(owner.table, "principal", "k", first, lease_seconds=30)

    def owner_commits() -> None:
        # Between the retry's read and its UPDATE, the owner's events commit with the claim.
        with owner.transaction() as tx:
            tx.execute(fence.statement("?"), fence.parameters([], now[0]))

    _after_reading(monkeypatch, retry, owner_commits)
    try:
        outcome = retry.claim("principal", "k", "print")
        monkeypatch.undo()
        assert not isinstance(outcome, str)  # not taken over: the request is not run again
        assert retry.load("principal", "k") is not None
        assert retry.load("principal", "k").state == "committed"  # type: ignore[union-attr]
        again = retry.claim("principal", "k", "print")
        assert not isinstance(again, str) and again.state == "committed"
    finally:
        owner.close()
        retry.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_retry_that_read_the_claim_before_its_owner_answered_is_not_told_it_stopped(
    ledger: DoseLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes' tables (two sessions). The owner's request committed its events.
    owner = IdempotencyStore(ledger.env)
    retry = IdempotencyStore(ledger.env)
    token = owner.claim("principal", "k", "print")
    assert isinstance(token, str)
    fence = ClaimFence(owner.table, "principal", "k", token, lease_seconds=30)
    with owner.transaction() as tx:
        tx.execute(fence.statement("?"), fence.parameters([], time.time()))
    # The owner answers (and gives its lock up) right after the retry's read.
    _after_reading(
        monkeypatch, retry, lambda: owner.answer("principal", "k", token, 201, '{"id": "x"}', {})
    )
    try:
        seen = retry.claim("principal", "k", "print")
        monkeypatch.undo()
        assert not isinstance(seen, str)
        # Not "the process that ran it stopped before answering": it was answering.
        assert not (seen.state == "committed" and seen.owner_gone), seen
        replay = retry.claim("principal", "k", "print")
        assert not isinstance(replay, str) and replay.state == "answered"
    finally:
        owner.close()
        retry.close()


def _after_reading(
    monkeypatch: pytest.MonkeyPatch, reader: IdempotencyStore, then: Callable[[], None]
) -> None:
    """``then`` runs right after each read of a claim's row by ``reader`` (another process
    acts between the read and what ``reader`` does next)."""
    real = IdempotencyStore._select

    def select_then(self: IdempotencyStore, *args: Any, **kwargs: Any) -> Any:
        record = real(self, *args, **kwargs)
        if self is reader:
            then()
        return record

    monkeypatch.setattr(IdempotencyStore, "_select", select_then)
