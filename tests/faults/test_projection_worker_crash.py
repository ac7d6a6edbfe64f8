"""Issue 14: a projection worker (``doseledger projections run``) killed with SIGKILL in the
middle of its catch-up, then started again: nothing is processed twice or skipped.

Each batch of events reaches every read model in one transaction with the read models' tracking
positions, so a batch cut short by the kill is rolled back whole and read again on restart.
The proof is ``doseledger projections check``: the read models the two workers built equal a
rebuild from the log in a scratch store (a row counted twice or an event skipped differs).
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from adapters.bootstrap import build_ledger, build_read_models
from adapters.demo import record_demo_trial
from adapters.persistence.environment import persistence_env
from conftest import TEST_AUDIT_KEY
from fault_cluster import doseledger, env_of
from processes import DEADLINE_SECONDS, running, wait_until
from projections.store import SQLITE_PREFIX, TRACKING

TRIALS = 40  # about 4,500 events: several batches of the runner's 1,000


def _positions(url: str) -> dict[str, int]:
    with build_read_models(url) as read_models:
        return read_models.positions()


def _any_batch_in(store: Path) -> bool:
    """True once a batch is committed: a plain read of the tracking rows, about a millisecond,
    so the kill lands before the few batches of the catch-up are all in (opening the read
    models to ask, a tenth of a second, sometimes saw the first batch only after the last)."""
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return bool(
            connection.execute(
                f"SELECT 1 FROM {SQLITE_PREFIX}{TRACKING.name} WHERE position > 0 LIMIT 1"
            ).fetchone()
        )
    except sqlite3.OperationalError:  # no tracking table yet
        return False
    finally:
        connection.close()


def test_a_projection_worker_killed_mid_catch_up_processes_nothing_twice_nor_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One audit key for this process's ledger and the workers (else the store makes a file).
    monkeypatch.setenv("DOSELEDGER_AUDIT_KEY", TEST_AUDIT_KEY)
    store = tmp_path / "store.db"
    url = f"sqlite:///{store}"
    ledger = build_ledger(env=persistence_env(url))
    try:
        for _ in range(TRIALS):
            record_demo_trial(ledger)
        head = ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()
    assert head > 3_000
    env = env_of(url)
    argv = ["projections", "run", "--poll-seconds", "1"]

    with running(argv, env, tmp_path / "victim.log") as victim:
        # Killed once its first batch is in and before the last one is: mid catch-up.
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and not _any_batch_in(store):
            time.sleep(0.001)
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait()
    cut = _positions(url)
    assert 0 < min(cut.values()) < head, f"the kill did not land mid catch-up: {cut}"
    assert not victim.events("projection worker stopped")  # killed, not stopped

    with running(argv, env, tmp_path / "restarted.log") as restarted:
        wait_until(
            lambda: set(_positions(url).values()) == {head}, "caught up after restart", restarted
        )
        assert restarted.stop() == 0
    assert restarted.events("projection worker stopped")  # SIGTERM: a clean stop

    checked = doseledger(url, "projections", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
