"""The composition root of the read models: the DoseLedger's events, tables in its database.

One :class:`LiveReadModels` per process holds the process's one runner of every read model:
the HTTP reads, the reminders tick (the reminder index) and the lag metric all use it, so a
``serve`` process follows the log once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from adapters.application import DoseLedger
from adapters.persistence.environment import persistence_env
from adapters.settings import Settings
from projections.queries import ReadModelQueries
from projections.read_models import DEFAULT_BATCH_SIZE, DEFAULT_CACHE_SIZE, ReadModels
from projections.store import PostgresStore, open_store
from projections.wakeups import PostgresWakeups

T = TypeVar("T")
log = structlog.get_logger("doseledger.read_models")
# Without a wake-up from another process (SQLite has none), the runner looks for their events
# this often; on PostgreSQL their NOTIFY wakes it, and this is a safety net only.
SQLITE_POLL_SECONDS = 0.5
POSTGRES_POLL_SECONDS = 5.0


def build_read_models(
    settings_or_url: Settings | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> ReadModels:
    """Read models in the database the settings (or a DOSELEDGER_DATABASE_URL) name.

    Events are read and decoded by a DoseLedger on the same environment (its recorder and
    mapper); the read-model tables live next to them (``rm_*`` in SQLite, ``doseledger_rm_*``
    in the PostgreSQL schema). ``close()`` closes both.
    """
    if isinstance(settings_or_url, str):
        env = persistence_env(settings_or_url)
    else:
        env = (settings_or_url or Settings()).persistence_env()
    app = DoseLedger(env=env)
    try:
        store = open_store(env)
    except BaseException:
        app.close()
        raise
    return ReadModels(
        app,
        store,
        batch_size=batch_size,
        cache_size=cache_size,
        reopen=DoseLedger,
        env=env,
        on_close=app.close,
    )


class LiveReadModels:
    """The read models of a running process: caught up before each read, one user at a time.

    ``follow`` keeps them current between reads in a background thread, woken by this
    ledger's own commits at once, by other processes' commits through PostgreSQL's NOTIFY,
    and otherwise every poll interval (other processes on SQLite). A read first catches up
    with whatever is newer, so a client reads its own writes.
    """

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self._read_models: ReadModels | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeups: PostgresWakeups | None = None

    @property
    def read_models(self) -> ReadModels:
        """The read models, (re)opened on first use: an app may be started again after a stop."""
        if self._read_models is None:
            env = self.ledger.env
            self._read_models = ReadModels(
                self.ledger, open_store(env), reopen=DoseLedger, env=dict(env)
            )
        return self._read_models

    def read(self, query: Callable[[ReadModelQueries], T]) -> T:
        """Catch up, then answer the query."""
        with self._lock:
            read_models = self.read_models
            read_models.catch_up()
            return query(read_models.queries)

    def positions(self) -> dict[str, int]:
        """Each read model's position (for the lag metric and readiness)."""
        with self._lock:
            return self.read_models.positions()

    def wake(self) -> None:
        """Ask the following thread to catch up now (new events were recorded)."""
        self._wake.set()

    def follow(self, poll_seconds: float | None = None) -> None:
        """Start following the store in a daemon thread (see the class's notes)."""
        store = self.read_models.store
        channel = getattr(self.ledger.recorder, "channel_name", None)
        if isinstance(store, PostgresStore) and channel:
            self._wakeups = PostgresWakeups(store.conninfo, channel, self.wake)
            self._wakeups.start()
            interval = POSTGRES_POLL_SECONDS if poll_seconds is None else poll_seconds
        else:
            interval = SQLITE_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.ledger.after_commit.append(self.wake)

        def loop() -> None:
            while not self._stopping.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    with self._lock:
                        self.read_models.catch_up()
                except Exception:  # a passing store error must not kill the runner
                    log.exception("read models could not catch up; retrying")

        self._stopping.clear()
        self._wake.set()  # what was recorded while nothing followed
        self._thread = threading.Thread(target=loop, name="read-models", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop following and close the read-model store."""
        self._stopping.set()
        self._wake.set()
        if self.wake in self.ledger.after_commit:
            self.ledger.after_commit.remove(self.wake)
        if self._wakeups is not None:
            self._wakeups.stop()
            self._wakeups = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._read_models is not None:
                self._read_models.store.close()
                self._read_models = None
