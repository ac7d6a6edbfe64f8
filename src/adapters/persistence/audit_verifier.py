"""``audit verify``: every stored event checked against the audit chain, and the first fault named.

The events (in notification order) and the chain (in ``seq`` order) are read from one snapshot
of the database, a page at a time, so memory stays constant however large the store.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.persistence import ApplicationRecorder

from adapters.persistence.audit_hashing import (
    GENESIS_PREV,
    ChainRow,
    EventRow,
    aggregate_kind,
    event_hash,
    genesis_row,
    link_hash,
)
from adapters.persistence.audit_table import ChainedRecorder, ChainReader
from adapters.persistence.environment import AUDIT_KEY_VAR

PAGE_SIZE = 1000
T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    """The first thing found wrong, with the aggregate and version at fault when known."""

    kind: str  # changed | removed | inserted | reordered | chain_broken | head_mismatch |
    #            unchained | no_chain
    message: str
    aggregate: str | None = None
    aggregate_id: str | None = None
    version: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "aggregate": self.aggregate,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "message": self.message,
        }


@dataclass(frozen=True)
class AuditResult:
    """``ok`` with the number of chained events checked and the chain's head hash, or a fault."""

    ok: bool
    events_checked: int
    head: str | None
    fault: Fault | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head": self.head,
        }
        if self.fault is not None:
            data["fault"] = self.fault.as_json()
        return data


def verify(
    recorder: ApplicationRecorder,
    *,
    expect_head: str | None = None,
    page_size: int = PAGE_SIZE,
) -> AuditResult:
    """Check every stored event against the audit chain, streaming both in pages.

    ``expect_head``: a head hash recorded earlier (e.g. anchored outside the database); it must
    be the current head or an earlier link of the verified chain (the store may have grown).
    """
    if not isinstance(recorder, ChainedRecorder):
        return _no_chain("this store is not opened with an audit-chain recorder")
    with recorder.audit_reader() as reader:
        if not reader.chain_table_exists():
            return _no_chain(
                f"the store has no audit chain (no table {recorder.chain_table_name}): it was "
                "created before tamper evidence was introduced, or the table was dropped"
            )
        return _Verification(recorder.audit_key, reader, page_size, expect_head).run()


def _no_chain(message: str) -> AuditResult:
    return AuditResult(False, 0, None, Fault("no_chain", message))


def _pages(
    fetch: Callable[[int | None, int], list[T]], key: Callable[[T], int], page_size: int
) -> Iterator[T]:
    after = None
    while True:
        rows = fetch(after, page_size)
        yield from rows
        if len(rows) < page_size:
            return
        after = key(rows[-1])


class _Verification:
    def __init__(
        self, key: bytes, reader: ChainReader, page_size: int, expect_head: str | None
    ) -> None:
        self.key = key
        self.reader = reader
        self.expect_head = expect_head.lower() if expect_head else None
        self.events: Iterator[EventRow] = _pages(
            reader.events_after, lambda e: e.position, page_size
        )
        self.chain: Iterator[ChainRow] = _pages(reader.chain_after, lambda r: r.seq, page_size)
        self.checked = 0
        self.head = GENESIS_PREV
        self.head_seq = 0

    def fault(self, kind: str, message: str, at: EventRow | ChainRow | None = None) -> AuditResult:
        if at is None:
            return AuditResult(False, self.checked, self.head, Fault(kind, message))
        aggregate = aggregate_kind(at.topic)
        where = f"{aggregate} {at.originator_id} version {at.originator_version}"
        return AuditResult(
            False,
            self.checked,
            self.head,
            Fault(kind, f"{where}: {message}", aggregate, at.originator_id, at.originator_version),
        )

    def run(self) -> AuditResult:
        genesis = next(self.chain, None)
        if genesis is None:
            return self.fault("chain_broken", "the audit chain is empty (its genesis row is gone)")
        expected = genesis_row(self.key, genesis.originator_version)
        if genesis != expected or genesis.originator_version < 0:
            return self.fault(
                "chain_broken",
                "the audit chain's genesis row does not verify: the chain was rewritten or "
                f"truncated, or {AUDIT_KEY_VAR} is not the key it was written with",
            )
        self.head = genesis.chain_hash
        anchored = self.expect_head in (None, self.head)
        unchained = 0
        for _ in range(genesis.originator_version):
            if next(self.events, None) is None:
                break
            unchained += 1
        while True:
            row, stored = next(self.chain, None), next(self.events, None)
            if row is None and stored is None:
                break
            if row is not None:
                broken = self._broken_link(row, stored)
                if broken is not None:
                    return broken
            mismatch = self._compare(row, stored)
            if mismatch is not None:
                return mismatch
            assert row is not None
            self.checked += 1
            self.head, self.head_seq = row.chain_hash, row.seq
            anchored = anchored or self.head == self.expect_head
        if not anchored:
            return self.fault(
                "head_mismatch",
                f"the expected head {self.expect_head} is not in the audit chain (head is now "
                f"{self.head} after {self.checked} events): events recorded up to it were "
                "removed together with their chain rows, or the chain was rebuilt",
            )
        if unchained:
            return self.fault(
                "unchained",
                f"the first {unchained} stored events are not covered by the audit chain "
                "(recorded before it was started, or the chain was deleted); "
                f"{self.checked} later events verify",
            )
        return AuditResult(True, self.checked, self.head)

    def _broken_link(self, row: ChainRow, stored: EventRow | None) -> AuditResult | None:
        link = link_hash(
            self.key,
            self.head,
            row.seq,
            row.originator_id,
            row.originator_version,
            row.topic,
            row.event_hash,
        )
        if row.seq == self.head_seq + 1 and hmac.compare_digest(link, row.chain_hash):
            return None
        at: EventRow | ChainRow = stored if stored is not None else row
        if row.seq > self.head_seq + 1:
            missing = f"{self.head_seq + 1}-{row.seq - 1}"
            return self.fault(
                "chain_broken",
                f"audit chain rows {missing} are missing before this event's position "
                "(events removed together with their chain rows)",
                at,
            )
        return self.fault(
            "chain_broken",
            f"audit chain row {row.seq} at this event's position was altered, inserted or "
            "removed (it does not link to the row before it)",
            at,
        )

    def _compare(self, row: ChainRow | None, stored: EventRow | None) -> AuditResult | None:
        if row is not None and stored is not None and _same(row, stored):
            ehash = event_hash(
                self.key,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
            )
            if hmac.compare_digest(ehash, row.event_hash):
                return None
            return self.fault(
                "changed", "the stored event was changed (its hash is not the chained one)", stored
            )
        if stored is None or (
            row is not None and not self.reader.has_event(row.originator_id, row.originator_version)
        ):
            assert row is not None
            return self.fault(
                "removed",
                f"the stored event was removed (the audit chain records it at row {row.seq})",
                row,
            )
        if row is None or not self.reader.has_chain_row(
            stored.originator_id, stored.originator_version
        ):
            return self.fault(
                "inserted",
                f"the stored event (position {stored.position}) was inserted outside the ledger "
                "(the audit chain has no row for it)",
                stored,
            )
        return self.fault(
            "reordered",
            f"events were reordered: the audit chain records this event at row {row.seq}, but "
            f"the store has {stored.originator_id} version {stored.originator_version} there "
            f"(position {stored.position})",
            row,
        )


def _same(row: ChainRow, stored: EventRow) -> bool:
    return (row.originator_id, row.originator_version) == (
        stored.originator_id,
        stored.originator_version,
    )
