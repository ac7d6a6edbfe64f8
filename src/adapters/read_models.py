"""The composition root of the read models: the DoseLedger's events, tables in its database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from adapters.persistence.environment import persistence_env
from adapters.services import DoseLedger
from adapters.settings import Settings
from projections.follower import DEFAULT_BATCH_SIZE, DEFAULT_CACHE_SIZE, Projections
from projections.store import open_store

T = TypeVar("T")
log = structlog.get_logger("doseledger.read_models")


def build_projections(
    settings_or_url: Settings | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> Projections:
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
    return Projections(
        app,
        store,
        batch_size=batch_size,
        cache_size=cache_size,
        reopen=DoseLedger,
        env=env,
        on_close=app.close,
    )


class LiveReadModels:
    """The read models of a running service: caught up before each read, one user at a time.

    A background thread (``follow``) keeps them current between requests; a read first
    catches up with whatever is newer, so a client reads its own writes.
    """

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self._projections: Projections | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def projections(self) -> Projections:
        """The read models, (re)opened on first use: an app may be started again after a stop."""
        if self._projections is None:
            env = self.ledger.env
            self._projections = Projections(
                self.ledger, open_store(env), reopen=DoseLedger, env=dict(env)
            )
        return self._projections

    def read(self, query: Callable[[Projections], T]) -> T:
        """Catch up, then answer the query."""
        with self._lock:
            self.projections.catch_up()
            return query(self.projections)

    def positions(self) -> dict[str, int]:
        """Each read model's position (for the lag metric and readiness)."""
        with self._lock:
            return self.projections.positions()

    def follow(self, interval: float = 0.5) -> None:
        """Start following the store in a daemon thread."""

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    with self._lock:
                        self.projections.catch_up()
                except Exception:  # a passing store error must not kill the follower
                    log.exception("read models could not catch up; retrying")

        self._stopping.clear()
        self._thread = threading.Thread(target=loop, name="read-models", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop following and close the read-model store."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._projections is not None:
                self._projections.store.close()
                self._projections = None
