"""Where a set of events sits in the audit chain: the latest of them by log position, with its
chain row, so that what was built from them can name the chain head it rests on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder

from adapters.persistence.audit_table import ChainedRecorder


@dataclass(frozen=True)
class ChainLink:
    """One event's place: its log position, its chain row's seq and chain hash (the head of
    the chain as it stood right after that event)."""

    position: int
    seq: int
    chain_hash: str
    originator_id: str
    version: int


def latest_link(
    recorder: ApplicationRecorder, events: Iterable[tuple[str, int]]
) -> ChainLink | None:
    """The chain link of the latest (by log position) of these (aggregate id, version) events,
    read in one snapshot; None when the store keeps no chain or none of them is chained."""
    if not isinstance(recorder, ChainedRecorder):
        return None
    latest: ChainLink | None = None
    with recorder.audit_reader() as reader:
        if not reader.chain_table_exists():
            return None
        for originator_id, version in events:
            found = reader.link_of(originator_id, version)
            if found is None:
                continue
            position, row = found
            if latest is None or position > latest.position:
                latest = ChainLink(position, row.seq, row.chain_hash, originator_id, version)
    return latest
