"""The read models of one store: their runner, schema, catch-up, rebuild, check and queries."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from projections import check as checking
from projections import failures as stops
from projections import rebuild as rebuilding
from projections.check import CheckReport, select_ordered
from projections.default_models import DEFAULT_CACHE_SIZE, default_read_models
from projections.failures import Failure, Stopped
from projections.log_reader import know_the_log_size
from projections.models.base import ReadModel
from projections.parallel_rebuild import catch_up_in_parallel, second_group
from projections.queries import ReadModelQueries
from projections.runner import (
    DEFAULT_BATCH_SIZE,
    NotificationSource,
    Progress,
    ReadModelRunner,
    SourceFactory,
)
from projections.schema import create_tables
from projections.store import Store, Table

if TYPE_CHECKING:
    from projections.forked_worker import ForkedWorker


class ReadModels:
    """The read models of one store, the runner that keeps them current, and their queries."""

    def __init__(
        self,
        source: NotificationSource,
        store: Store,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        models: Callable[[Store], list[ReadModel]] | None = None,
        reopen: SourceFactory | None = None,
        env: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
        spare: ForkedWorker | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.source = source
        self.store = store
        self.batch_size = batch_size
        self.cache_size = cache_size
        # How a second process opens the same source and store (parallel runs): a picklable
        # callable (the application class) and the eventsourcing environment.
        self.reopen = reopen
        self.env = None if env is None else dict(env)
        self.factory = models or (lambda s: default_read_models(s, cache_size=cache_size))
        self.models = self.factory(store)
        self.names = [m.name for m in self.models]
        self.runner = ReadModelRunner(source, store, self.models, batch_size)
        self.queries = ReadModelQueries(store, self.ensure_schema)
        self.schema_ready = False
        self.log_size_known = False  # see _know_the_log_size
        self._on_close = on_close
        # A second process forked at the start, for a parallel run (``forked_worker``): taken
        # by the first one, released unused by close().
        self.spare = spare

    def beside(self, store: Store) -> ReadModels:
        """The same read models of the same source in another store (a scratch rebuild)."""
        return ReadModels(
            self.source,
            store,
            batch_size=self.batch_size,
            cache_size=self.cache_size,
            models=self.factory,
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def tables(self) -> list[Table]:
        """Every table of every read model."""
        return [table for model in self.models for table in model.tables]

    def stop(self) -> None:
        """Ask a running catch-up (or rebuild) to stop after the batch in progress."""
        self.runner.stopping.set()

    def close(self) -> None:
        """Close the store's connection (and the application, when this object built it)."""
        spare, self.spare = self.spare, None
        if spare is not None:
            spare.release()
        self.store.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> ReadModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        """Create missing tables, indexes and tracking rows."""
        if self.schema_ready:
            return
        with self.store.transaction() as tx:
            create_tables(self.store, tx, self.tables, self.names, indexes=True)
        self.schema_ready = True

    def positions(self) -> dict[str, int]:
        """Each read model's tracking position (0 before its first event)."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            return self.runner.positions(tx)

    # ----------------------------------------------------------------- stopped read models

    def failures(self) -> list[Failure]:
        """The read models that could not process an event, as recorded (``failures``)."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            return list(stops.load(tx).values())

    def stopped(self) -> dict[str, Stopped]:
        """The read models not fed: those that failed, and those that read from one."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            return dict(self.runner.load_stopped(tx))

    def retry(self, names: Sequence[str] | None = None) -> list[Failure]:
        """Forget the failures of ``names`` (all when None), so that the runners feed those
        read models again from their positions: the next catch-up processes the failed event
        again (after a fix). Returns the failures forgotten."""
        self.ensure_schema()
        return stops.clear(self.store, names)

    # ----------------------------------------------------------------- following the log

    def catch_up(
        self, progress: Progress | None = None, *, until: int | None = None, workers: int = 1
    ) -> dict[str, int]:
        """Process every event after the read models' positions (up to ``until``, if given).

        ``workers=2`` follows the read models outside the audit group in a second process
        (``projections.parallel_rebuild``).
        Returns ``{"processed": events read, "position": lowest position reached, "workers":
        processes used}``.
        """
        return self.follow(progress, until, workers, self.batch_size, bulk=False)

    def refresh(self) -> int:
        """Process what is new since the positions, as a read does before it answers: the
        fewest queries (no head, no positions report); returns the events read."""
        self.ensure_schema()
        self._know_the_log_size()
        return self.runner.catch_up()

    def _know_the_log_size(self) -> None:
        """Once for this object, before its first read of the log: the planner's statistics
        of the events table (``log_reader.know_the_log_size``). A store just restored is then
        read page by page with its index, by a rebuild, a catch-up or a live runner alike."""
        if not self.log_size_known:
            know_the_log_size(self.source, self.store)
            self.log_size_known = True

    def follow(
        self,
        progress: Progress | None,
        until: int | None,
        workers: int,
        batch_size: int,
        *,
        bulk: bool,
    ) -> dict[str, int]:
        """Catch up in batches of ``batch_size``, in two processes when ``workers`` > 1 and
        the store can be reopened (``bulk``: a rebuild's load)."""
        self.ensure_schema()
        self._know_the_log_size()
        second = second_group(self) if workers > 1 else []
        if second:
            processed = catch_up_in_parallel(self, second, progress, until, batch_size, bulk)
        else:
            self.runner.batch_size = batch_size
            try:
                processed, workers = self.runner.catch_up(progress, until=until), 1
            finally:
                self.runner.batch_size = self.batch_size
        return {
            "processed": processed,
            "position": min(self.positions().values()),
            "workers": workers,
        }

    def rebuild(
        self,
        progress: Progress | None = None,
        *,
        until: int | None = None,
        workers: int | None = None,
    ) -> dict[str, Any]:
        """Drop every read model and build it again from the first event (``rebuild``)."""
        return rebuilding.rebuild(self, progress, until=until, workers=workers)

    def check(self, progress: Progress | None = None) -> CheckReport:
        """Compare the live read models with a rebuild from zero (``check``)."""
        return checking.check(self, progress)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        self.ensure_schema()
        counts = {}
        with self.store.snapshot() as tx:
            for table in self.tables:
                found = tx.fetchone(f"SELECT COUNT(*) FROM {self.store.qualified(table.name)}")
                counts[table.name] = int(found[0]) if found else 0
        return counts

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table in key order, and the positions (tests; small stores)."""
        self.ensure_schema()
        with self.store.snapshot() as tx:
            data: dict[str, list[tuple[Any, ...]]] = {
                "tracking": sorted(self.runner.positions(tx).items())
            }
            for table in self.tables:
                data[table.name] = list(tx.stream(select_ordered(self.store, table)))
            return data
