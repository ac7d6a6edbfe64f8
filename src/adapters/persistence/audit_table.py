"""The audit-chain table as both recorders keep it: its name, its rows in and out of the
database, the head a new row links to, the key check before the first write, and the reader
the verifier goes through."""

from __future__ import annotations

import hmac
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from adapters.persistence.audit_hashing import ChainRow, EventRow, genesis_row
from adapters.persistence.environment import AUDIT_KEY_VAR


class ChainReader(Protocol):
    """Reads one consistent snapshot of the events and the chain, in pages."""

    def chain_table_exists(self) -> bool: ...
    def events_after(self, position: int | None, limit: int) -> list[EventRow]: ...
    def chain_after(self, seq: int | None, limit: int) -> list[ChainRow]: ...
    def has_event(self, originator_id: str, version: int) -> bool: ...
    def has_chain_row(self, originator_id: str, version: int) -> bool: ...
    def link_of(self, originator_id: str, version: int) -> tuple[int, ChainRow] | None: ...


@runtime_checkable
class ChainedRecorder(Protocol):
    """A recorder that keeps the audit chain (ours: SQLite and PostgreSQL). Recognised by its
    shape, not its class, so that a SQLite process never imports the PostgreSQL driver."""

    audit_key: bytes
    chain_table_name: str

    def audit_reader(self) -> AbstractContextManager[ChainReader]: ...


def chain_table_name(events_table_name: str, default: str) -> str:
    """The chain's table beside an events table: ``audit_chain`` beside the library's default
    ``stored_events``, else ``X_audit_chain`` beside ``X_events``."""
    if events_table_name == "stored_events":
        return default
    return events_table_name.removesuffix("_events") + "_audit_chain"


def as_bytes(value: Any) -> bytes:
    """SQLite columns take any type: a tampered state may come back as text or a number."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode()


def as_int(value: Any) -> int:
    """An integer column as read back; -1 for a value that is none (tampered with)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def chain_head(row: Any) -> tuple[int, str] | None:
    """(seq, chain hash) of the newest chain row, from a database row (or None)."""
    return None if row is None else (int(row["seq"]), str(row["chain_hash"]))


def check_key(key: bytes, genesis: Any) -> None:
    """Refuse to extend a chain written with another key (a misconfigured writer would break it
    for every later row). No genesis row: left to ``verify`` to report."""
    if genesis is None:
        return
    expected = genesis_row(key, as_int(genesis["originator_version"])).chain_hash
    if not hmac.compare_digest(expected, str(genesis["chain_hash"])):
        msg = (
            f"{AUDIT_KEY_VAR} is not the key this store's audit chain was written with (or the "
            "chain's genesis row was altered); nothing was recorded"
        )
        raise PersistenceError(msg)


def not_written(cause: BaseException) -> PersistenceError:
    """The error a failed chain write raises: the transaction, events included, rolled back."""
    return PersistenceError(f"audit chain row not written, nothing was recorded: {cause}")


def row_values(row: ChainRow) -> tuple[int, str, int, str, str, str]:
    """A chain row as the INSERT's parameters, in the table's column order."""
    return (
        row.seq,
        row.originator_id,
        row.originator_version,
        row.topic,
        row.event_hash,
        row.chain_hash,
    )


def chain_row(values: tuple[Any, ...]) -> ChainRow:
    """A chain row from a database row in column order (tampered types read as -1 or text)."""
    seq, oid, version, topic, ehash, chash = values
    return ChainRow(as_int(seq), str(oid), as_int(version), str(topic), str(ehash), str(chash))


def stored_id(originator_id: str, id_type: str) -> UUID | str | None:
    """An aggregate id as the events table stores it (None: not a UUID, so not there)."""
    if id_type != "uuid":
        return originator_id
    try:
        return UUID(originator_id)
    except ValueError:
        return None
