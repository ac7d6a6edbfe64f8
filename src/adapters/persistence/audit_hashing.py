"""Tamper evidence for the event store: an HMAC hash chain written with every event, and its check.

Every stored event gets one row in an audit-chain table, appended in the transaction that inserts
the event (same commit, or neither)::

    event_hash = HMAC-SHA256(key, frame(originator_id, version, topic, state))
    chain_hash = HMAC-SHA256(key, frame(previous chain_hash, seq, originator_id, version, topic,
                                        event_hash))

``seq`` is gapless (0 is the genesis row, then 1, 2, ... in insertion order) and, like the
identity and topic, bound into the link, so each chain row can be checked against its predecessor
without its event. The genesis row records how many events the store already held when the chain
started (0 for a store created with it): those are reported as not covered, never as verified.

The previous chain hash is read inside the insert transaction, after the events are inserted:
on PostgreSQL the library has by then taken ``LOCK TABLE ... IN EXCLUSIVE MODE`` on the events
table; on SQLite the events INSERT is the transaction's first statement and holds the database's
single write lock (WAL) from then until commit. Either way writers are serialised and the chain
stays linear.

The key is the application's (``adapters.persistence.audit_key``); the rows are written by the
recorders (``sqlite_recorder``, ``postgres_recorder``) and checked by ``audit_verifier``. This
module is the pure part: the hashes, and the rows they make.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS_PREV = "0" * 64
_EVENT_DOMAIN = b"doseledger/audit-chain/event/v1"
_LINK_DOMAIN = b"doseledger/audit-chain/link/v1"
_KINDS = {"doseledger:trial.": "trial", "doseledger:patient.": "patient"}


def _frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part preceded by its length (8 bytes, big-endian)."""
    return b"".join([len(part).to_bytes(8, "big") + part for part in parts])


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(key: bytes, message: bytes) -> str:
    mac = _keyed(key).copy()  # the key schedule once per key, not once per hash
    mac.update(message)
    return mac.hexdigest()


def event_hash(key: bytes, originator_id: str, version: int, topic: str, state: bytes) -> str:
    """HMAC-SHA256 (hex) of one stored event's identity, topic and stored state bytes."""
    return _mac(
        key,
        _frame(_EVENT_DOMAIN, originator_id.encode(), str(version).encode(), topic.encode(), state),
    )


def link_hash(
    key: bytes, prev: str, seq: int, originator_id: str, version: int, topic: str, ehash: str
) -> str:
    """HMAC-SHA256 (hex) of one chain row, bound to the previous row's chain hash."""
    message = _frame(
        _LINK_DOMAIN,
        prev.encode(),
        str(seq).encode(),
        originator_id.encode(),
        str(version).encode(),
        topic.encode(),
        ehash.encode(),
    )
    return _mac(key, message)


def aggregate_kind(topic: str) -> str:
    """'trial' or 'patient' from an event topic (``doseledger:trial.X``), else 'unknown'."""
    return next((kind for prefix, kind in _KINDS.items() if topic.startswith(prefix)), "unknown")


def oid_text(originator_id: UUID | str) -> str:
    return str(originator_id)


@dataclass(frozen=True)
class ChainRow:
    """One row of the audit-chain table."""

    seq: int
    originator_id: str
    originator_version: int
    topic: str
    event_hash: str
    chain_hash: str


@dataclass(frozen=True)
class EventRow:
    """One stored event as verification reads it (``position``: its notification id)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def chain_rows(
    key: bytes, head: tuple[int, str] | None, stored_events: Sequence[StoredEvent]
) -> list[ChainRow]:
    """The chain rows that follow ``head`` (seq, chain hash) for these events, in their order."""
    seq, prev = head if head is not None else (0, GENESIS_PREV)
    rows = []
    for stored in stored_events:
        seq += 1
        oid = oid_text(stored.originator_id)
        ehash = event_hash(key, oid, stored.originator_version, stored.topic, stored.state)
        prev = link_hash(key, prev, seq, oid, stored.originator_version, stored.topic, ehash)
        rows.append(ChainRow(seq, oid, stored.originator_version, stored.topic, ehash, prev))
    return rows


def genesis_row(key: bytes, unchained: int) -> ChainRow:
    """Row 0: the number of events the store held when the chain started, authenticated."""
    return ChainRow(
        0, "", unchained, "", "", link_hash(key, GENESIS_PREV, 0, "", unchained, "", "")
    )
