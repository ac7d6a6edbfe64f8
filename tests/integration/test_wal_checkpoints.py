"""The SQLite WAL is checkpointed by a thread of the store's own after a batch of writes, not
in a command's commit (``adapters.persistence.wal_checkpoints``); the thread stops with the store,
and a checkpoint that fails is logged and tried again after the next write."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import structlog

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.audit_verifier import verify
from adapters.persistence.environment import persistence_env
from adapters.persistence.sqlite_recorder import ChainedSQLiteApplicationRecorder
from adapters.persistence.wal_checkpoints import BATCH_COMMITS, WalCheckpointer
from domain.protocol import template
from processes import wait_until
from support import ADMIN

PROTOCOL = template("defactinib-paclitaxel")


def _checkpointer(ledger: DoseLedger) -> WalCheckpointer:
    recorder = ledger.recorder
    assert isinstance(recorder, ChainedSQLiteApplicationRecorder)
    assert recorder.checkpointer is not None
    return recorder.checkpointer


def _settled(checkpointer: WalCheckpointer) -> int:
    """The number of checkpoints once it has not moved for a while."""
    while True:
        runs = checkpointer.checkpoints
        time.sleep(4 * checkpointer.gather)
        if checkpointer.checkpoints == runs:
            return runs


def _write_a_batch(checkpointer: WalCheckpointer) -> None:
    for _ in range(BATCH_COMMITS):
        checkpointer.wrote()


def _alive(checkpointer: WalCheckpointer) -> bool:
    thread = checkpointer._thread
    return thread is not None and thread.is_alive()


def test_writes_are_checkpointed_by_the_store_thread_and_it_stops_with_the_store(
    sqlite_url: str,
) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        checkpointer = _checkpointer(ledger)
        assert checkpointer.checkpoints == 0 and not _alive(checkpointer)  # not yet
        for _ in range(BATCH_COMMITS - 1):
            ledger.register_trial(PROTOCOL, ADMIN)
        time.sleep(4 * checkpointer.gather)
        assert checkpointer.checkpoints == 0 and not _alive(checkpointer)  # not a batch yet
        ledger.register_trial(PROTOCOL, ADMIN)
        # Soon after the burst, one checkpoint copies every frame of the log back.
        wait_until(
            lambda: checkpointer.last is not None and checkpointer.last[2] > 0, "a checkpoint"
        )
        assert checkpointer.last is not None
        busy, frames, copied = checkpointer.last
        assert (busy, copied) == (0, frames)
        assert _alive(checkpointer)
        runs = _settled(checkpointer)  # writes during a gathering may wake it once more
        time.sleep(4 * checkpointer.gather)
        assert checkpointer.checkpoints == runs  # no write, no checkpoint
        for _ in range(BATCH_COMMITS):
            ledger.register_trial(PROTOCOL, ADMIN)
        wait_until(lambda: checkpointer.checkpoints > runs, "the next checkpoint")
        assert _settled(checkpointer) <= runs + 2  # one batch: one, or two if split by one
        assert verify(ledger.recorder).ok
    finally:
        ledger.close()
    assert not _alive(checkpointer)  # joined by close


def test_an_in_memory_store_has_no_checkpointer() -> None:
    ledger = build_ledger(env=persistence_env("sqlite:///:memory:"))
    try:
        recorder = ledger.recorder
        assert isinstance(recorder, ChainedSQLiteApplicationRecorder)
        assert recorder.checkpointer is None
        ledger.register_trial(PROTOCOL, ADMIN)
    finally:
        ledger.close()


def test_a_failed_checkpoint_is_logged_and_tried_again_after_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no such folder" / "store.sqlite"
    checkpointer = WalCheckpointer(str(missing), timeout=1, gather=0.001)
    try:
        with structlog.testing.capture_logs() as logs:
            _write_a_batch(checkpointer)
            wait_until(
                lambda: any(e["event"] == "wal checkpoint failed" for e in logs), "the warning"
            )
            assert checkpointer.checkpoints == 0
            missing.parent.mkdir()  # the file can be opened now
            _write_a_batch(checkpointer)
            wait_until(lambda: checkpointer.checkpoints == 1, "a checkpoint")
        failed = [e for e in logs if e["event"] == "wal checkpoint failed"]
        assert failed[0]["log_level"] == "warning" and "unable to open" in failed[0]["error"]
        assert failed[0]["database"] == str(missing)
    finally:
        checkpointer.close()
    assert not _alive(checkpointer)


def test_close_before_any_write_starts_no_thread(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    checkpointer = _checkpointer(ledger)
    ledger.close()
    _write_a_batch(checkpointer)  # writes racing the close start nothing
    assert checkpointer._thread is None


class _ClosedJustAfterLooking(threading.Event):
    """The checkpointer's ``_closed``: the thread's first look finds it unset, and a close
    lands right after (its flag and its wake-up set) before the thread goes on."""

    def __init__(self, checkpointer: WalCheckpointer) -> None:
        super().__init__()
        self.checkpointer = checkpointer
        self.closer = threading.Thread(target=checkpointer.close)

    def wait(self, timeout: float | None = None) -> bool:
        looked = super().wait(timeout)
        if not looked and not self.closer.is_alive() and not self.is_set():
            self.closer.start()
            wait_until(lambda: self.is_set() and self.checkpointer._wake.is_set(), "the close")
        return looked


def test_a_close_just_after_the_thread_looked_still_stops_it(tmp_path: Path) -> None:
    """A close that lands while the thread is between looking at the flag and checkpointing
    is not lost (its wake-up is not cleared after it): the thread stops."""
    path = str(tmp_path / "store.sqlite")
    build_ledger(env=persistence_env(f"sqlite:///{path}")).close()  # a WAL-mode file
    checkpointer = WalCheckpointer(path, timeout=1, gather=0.001)
    closed = _ClosedJustAfterLooking(checkpointer)
    checkpointer._closed = closed
    _write_a_batch(checkpointer)
    wait_until(lambda: closed.closer.ident is not None, "the closer")
    closed.closer.join(timeout=10)
    assert not closed.closer.is_alive(), "the close waits for a thread that never stops"
    assert not _alive(checkpointer)


def test_a_thread_that_cannot_start_fails_no_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's last commit is recorded and answered even when no thread can be started
    (the checkpoint is left to SQLite); the next batch tries again."""
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        checkpointer = _checkpointer(ledger)
        real_start = threading.Thread.start

        def refused(thread: threading.Thread) -> None:
            if thread.name == "doseledger-wal-checkpoints":
                raise RuntimeError("can't start new thread")
            real_start(thread)

        monkeypatch.setattr(threading.Thread, "start", refused)
        with structlog.testing.capture_logs() as logs:
            trials = [ledger.register_trial(PROTOCOL, ADMIN) for _ in range(BATCH_COMMITS)]
        assert len(trials) == BATCH_COMMITS and ledger.recorder.max_notification_id() == 32
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "wal checkpoint thread not started"
        ]
        assert not _alive(checkpointer)
        monkeypatch.setattr(threading.Thread, "start", real_start)
        for _ in range(BATCH_COMMITS):
            ledger.register_trial(PROTOCOL, ADMIN)
        wait_until(lambda: checkpointer.checkpoints > 0, "a checkpoint")
        assert verify(ledger.recorder).ok
    finally:
        ledger.close()
