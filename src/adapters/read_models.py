"""The read models of a running process: the DoseLedger's events, tables in its database.

One :class:`LiveReadModels` per process holds the process's one runner of every read model:
the HTTP reads, the reminders tick (the reminder index), the webhook outbox and the lag metric
all use it, so a ``serve`` process follows the log once. ``adapters.bootstrap`` builds it.

A read model that could not process an event is stopped (``projections.failures``): a read
that needs it raises ``ReadModelStopped`` (HTTP 503), the others answer. A read may ask for a
position (``X-Min-Position``): it waits, up to a bound, for the read models to reach it
(``PositionNotReached`` after it: HTTP 409). When the database goes away, the following
thread logs it once, tries again with a growing pause (``BACKOFF_SECONDS`` up to
``BACKOFF_MAX_SECONDS``), and logs once when it is back; the store reopens its connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog

from adapters.application import DoseLedger
from adapters.application.api_keys import ApiKey
from adapters.persistence.event_log import EventLog
from adapters.webhooks.subscriptions import WebhookSubscription
from projections.default_models import DEFAULT_CACHE_SIZE, default_read_models
from projections.failures import Failure, ReadModelStopped, Stopped, is_store_error
from projections.models.aggregate_index import AggregateIndex
from projections.models.base import ReadModel
from projections.queries import ReadModelQueries
from projections.read_models import ReadModels
from projections.store import PostgresStore, Store, open_store
from projections.wakeups import PostgresWakeups

T = TypeVar("T")
log = structlog.get_logger("doseledger.read_models")
# Without a wake-up from another process (SQLite has none), the runner looks for their events
# this often; on PostgreSQL their NOTIFY wakes it, and this is a safety net only.
SQLITE_POLL_SECONDS = 0.5
POSTGRES_POLL_SECONDS = 5.0
# After a commit wakes it, the following thread waits this long before it catches up, so that
# the commits of a busy moment reach the read models in one batch (docs/benchmarks.md).
COALESCE_SECONDS = 0.02
# Under load (the last batch held at least BUSY_EVENTS events) it waits longer: a batch costs
# mostly per batch, not per event (docs/benchmarks.md: 0.47 ms a request in batches of 5
# requests, 0.20 ms in batches of 50), and a read never waits for the follower.
BUSY_COALESCE_SECONDS = 0.1
BUSY_EVENTS = 20


def coalescing_window(processed: int) -> float:
    """How long the following thread lets commits gather after its last batch of
    ``processed`` events: longer when that batch was a busy moment's."""
    return BUSY_COALESCE_SECONDS if processed >= BUSY_EVENTS else COALESCE_SECONDS


# After a failed catch-up (the database away): the first pause, doubled up to the largest.
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
# How often a read waiting for a position (X-Min-Position) looks again.
POSITION_POLL_SECONDS = 0.05


class PositionNotReached(Exception):
    """The read models did not reach a position a read asked for within the bound."""

    def __init__(self, position: int, reached: int, seconds: float) -> None:
        self.position = position
        self.reached = reached
        super().__init__(
            f"the read models reached position {reached}, not {position}, within {seconds:g} s"
        )


def backoff(attempt: int) -> float:
    """The pause before retry ``attempt`` (1, 2, ...): BACKOFF_SECONDS doubled, bounded."""
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)))


INDEXED: dict[type, tuple[str, str | None]] = {
    ApiKey.Issued: ("api_key", None),
    WebhookSubscription.Subscribed: ("webhook_subscription", "owner"),
}
"""The aggregates of the adapters that admins list: first event class → (kind, owner field)."""


def service_read_models(store: Store, *, cache_size: int = DEFAULT_CACHE_SIZE) -> list[ReadModel]:
    """The read models of the service: the default ones and the index of the API keys and
    webhook subscriptions (whose aggregates the projections layer does not know)."""
    return [*default_read_models(store, cache_size=cache_size), AggregateIndex(store, INDEXED)]


class LiveReadModels:
    """The read models of a running process: caught up before each read, one user at a time.

    ``follow`` keeps them current between reads in a background thread, woken by this
    ledger's own commits at once, by other processes' commits through PostgreSQL's NOTIFY,
    and otherwise every poll interval (other processes on SQLite). A read first catches up
    with whatever is newer, so a client reads its own writes.

    ``live_only``: read models this runner feeds besides the default ones, which no
    ``projections rebuild`` ever builds again (the webhook outbox: a rebuild must not send old
    reminders again). Their positions are not among ``positions()`` (readiness, lag metric).
    """

    def __init__(
        self,
        ledger: DoseLedger,
        live_only: Sequence[Callable[[Store], ReadModel]] = (),
        *,
        min_position_wait_seconds: float = 2.0,
    ) -> None:
        self.ledger = ledger
        # How long an HTTP read waits for an X-Min-Position (DOSELEDGER_MIN_POSITION_...).
        self.min_position_wait_seconds = min_position_wait_seconds
        self.live_only = tuple(live_only)
        self._live_only_names: set[str] = set()
        self._read_models: ReadModels | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeups: PostgresWakeups | None = None
        # Why the following thread cannot catch up (the store's error), None while it can.
        self.outage: str | None = None

    @property
    def read_models(self) -> ReadModels:
        """The read models, (re)opened on first use: an app may be started again after a stop."""
        if self._read_models is None:
            env = self.ledger.env
            self._read_models = ReadModels(
                self.ledger,
                open_store(env),
                reopen=EventLog,  # a second process reads and decodes, no more
                env=dict(env),
                models=self._models,
            )
        return self._read_models

    def _models(self, store: Store) -> list[ReadModel]:
        live_only = [model(store) for model in self.live_only]
        self._live_only_names = {model.name for model in live_only}
        return [*service_read_models(store), *live_only]

    def read(
        self,
        query: Callable[[ReadModelQueries], T],
        uses: Sequence[str] = (),
        *,
        min_position: int | None = None,
        wait_seconds: float = 0.0,
    ) -> T:
        """Catch up, then answer the query from the read models it ``uses`` (their names).

        ReadModelStopped when one of them is stopped. ``min_position``: answered once they
        (every read model, when ``uses`` is empty) reached it, or PositionNotReached after
        ``wait_seconds``.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            with self._lock:
                read_models = self.read_models
                read_models.refresh()
                stopped = read_models.runner.stopped_models
                refused = [stopped[name] for name in uses if name in stopped]
                if refused:
                    raise ReadModelStopped(refused)
                if min_position is None:
                    return query(read_models.queries)
                reached = self._reached(read_models, uses)
                if reached >= min_position:
                    return query(read_models.queries)
                head = read_models.runner.head()
            if time.monotonic() >= deadline or min_position > head:  # never recorded: at once
                raise PositionNotReached(min_position, reached, wait_seconds)
            time.sleep(POSITION_POLL_SECONDS)

    def _reached(self, read_models: ReadModels, uses: Sequence[str]) -> int:
        positions = read_models.positions()
        wanted = uses or [n for n in positions if n not in self._live_only_names]
        return min((positions[name] for name in wanted), default=0)

    def readiness(self) -> tuple[int, dict[str, int], dict[str, Stopped]]:
        """The log's head, the default read models' positions and the stopped ones, read on
        the read-model store's connection (it fails at once while the database is away, where
        the recorder's pool would wait); the follower's outage answers without the store."""
        if self.outage is not None:
            raise ConnectionError(f"read models lost the store: {self.outage}")
        with self._lock:
            read_models = self.read_models
            head = read_models.runner.head()
            positions = read_models.positions()
            stopped = read_models.stopped()
        live = {n: at for n, at in positions.items() if n not in self._live_only_names}
        return head, live, stopped

    def stopped(self) -> dict[str, Stopped]:
        """The read models not fed now (as recorded in the store, by any process)."""
        with self._lock:
            return self.read_models.stopped()

    def failures(self) -> list[Failure]:
        """The failures recorded in the store (``projections failures``)."""
        with self._lock:
            return self.read_models.failures()

    def catch_up(self) -> int:
        """Catch up now (a job that reads a live-only model's tables); events read."""
        with self._lock:
            return self.read_models.refresh()

    def ensure_schema(self) -> None:
        """Create the read models' missing tables (the webhook dispatcher writes to some)."""
        with self._lock:
            self.read_models.ensure_schema()

    def positions(self) -> dict[str, int]:
        """Each default read model's position (for the lag metric and readiness)."""
        with self._lock:
            positions = self.read_models.positions()
            return {n: at for n, at in positions.items() if n not in self._live_only_names}

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
            attempt = 0  # failed catch-ups in a row
            window = COALESCE_SECONDS
            while not self._stopping.is_set():
                if attempt:  # the store is away: wait, whatever wakes us, then try again
                    self._stopping.wait(backoff(attempt))
                elif self._wake.wait(interval) and COALESCE_SECONDS:
                    # Woken by a commit: the commits of the next moment join the same batch,
                    # one read-model transaction for all of them (under load, one per commit
                    # took a quarter of the service's write throughput; a read never waits for
                    # this: it catches up itself).
                    self._stopping.wait(window)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    with self._lock:
                        processed = self.read_models.refresh()
                except Exception as exc:  # a passing store error must not kill the runner
                    attempt += 1
                    if attempt == 1:
                        self._lost(exc)
                    continue
                if attempt:
                    log.warning("read models following the store again", attempts=attempt)
                    self.outage, attempt = None, 0
                window = coalescing_window(processed)

        self._stopping.clear()
        self._wake.set()  # what was recorded while nothing followed
        self._thread = threading.Thread(target=loop, name="read-models", daemon=True)
        self._thread.start()

    def _lost(self, exc: Exception) -> None:
        """Log the start of an outage once (a store error) or an unexpected error, with its
        traceback; the following thread then retries with backoff, without logging."""
        self.outage = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if is_store_error(exc):
            log.warning(
                "read models lost the store; retrying with backoff",
                error=self.outage,
                max_pause_seconds=BACKOFF_MAX_SECONDS,
            )
        else:
            log.exception("read models could not catch up; retrying with backoff")

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
