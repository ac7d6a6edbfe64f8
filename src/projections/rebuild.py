"""``projections rebuild``: drop every read model and build it again from the first event."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from projections.parallel_rebuild import PARALLEL_THRESHOLD
from projections.runner import Progress
from projections.schema import create_indexes, drop_tables

if TYPE_CHECKING:
    from projections.read_models import ReadModels

# A rebuild's batches: fewer transactions, page writes and lock hand-overs between the two
# processes of a parallel rebuild, for a few more MB per batch (events and rows held).
REBUILD_BATCH_SIZE = 5000


def rebuild(
    read_models: ReadModels,
    progress: Progress | None = None,
    *,
    until: int | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Drop every read model and build it again from the first event.

    ``workers``: 2 follows the read models outside the audit group in a second process
    (``projections.parallel_rebuild``), 1 does not; by default 2 when the log holds at least
    ``PARALLEL_THRESHOLD`` events and there are two CPUs.
    A rebuild reads batches of at least REBUILD_BATCH_SIZE events, writes in the store's
    bulk-load mode (``Store.bulk_load``) and creates the secondary indexes after the
    rows (each process those of its own tables, as soon as it is done).
    Returns the events processed, the position reached and the rows of each table.
    """
    store = read_models.store
    with store.transaction() as tx:
        drop_tables(store, tx, read_models.tables, read_models.names)
    for model in read_models.models:
        model.reset()
    read_models.schema_ready = True
    if workers is None:
        head = read_models.source.recorder.max_notification_id() or 0
        head = head if until is None else min(head, until)
        workers = 2 if head >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) >= 2 else 1
    batch_size = max(read_models.batch_size, REBUILD_BATCH_SIZE)
    with store.bulk_load():
        result = read_models.follow(progress, until, workers, batch_size, bulk=True)
        create_indexes(store, read_models.tables)  # after the bulk load: cheaper
        rows = read_models.counts()  # (counting reads every page: with the bulk-load cache too)
    return {
        "events": result["processed"],
        "position": result["position"],
        "workers": result["workers"],
        "rows": rows,
    }
