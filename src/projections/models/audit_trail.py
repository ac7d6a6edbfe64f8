"""The audit trail: one row per stored event, with the trial it belongs to.

Rows are :func:`projections.audit_rows.audit_row` (who, role, when recorded in UTC, clinical
date, aggregate and version, old → new change, reason, client application, request id) plus the
trial id: the event's own aggregate for trial events, the patient's trial for patient events.
Rows are appended in log order, keyed by position; the index on (trial_id, position) serves one
trial's trail in order.

The patient → trial map the trail needs is its own (:class:`AuditPatients`, a table with an LRU
cache in front, from ``Patient.Enrolled``), not the shared directory: the trail depends on no
other read model, so a rebuild can follow it in a process of its own, in parallel with the rest
(with the timeline's dose rows, which use the same map).

Both read events as stored (``projections.undecoded``): the trail takes a few fields of every
event, and its process then decodes no domain event at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.errors import NotFound
from domain.patient import Patient
from projections.audit_rows import AUDIT_COLUMNS, audit_values
from projections.models.base import UTC, Lru, ReadModel, UndecodedHandler
from projections.store import Store, Table, Transaction
from projections.undecoded import UndecodedEvent

_INT_COLUMNS = {"position", "version"}
AUDIT = Table(
    "audit",
    (
        ("position", "int"),
        ("trial_id", "text"),
        *((c, "int" if c in _INT_COLUMNS else "text") for c in AUDIT_COLUMNS[1:]),
    ),
    key=("position",),
    indexes=(("trial_id", "position"),),
)
AUDIT_PATIENTS = Table(
    "audit_patients", (("patient_id", "text"), ("trial_id", "text")), key=("patient_id",)
)
COLUMNS = ("position", "trial_id", *AUDIT_COLUMNS[1:])
DEFAULT_CAPACITY = 50_000


class AuditPatients(ReadModel):
    """patient → trial, for the audit trail: a table with an LRU cache in front."""

    name = "audit_patients"
    tables = (AUDIT_PATIENTS,)

    def __init__(self, store: Store, *, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(store)
        self.cache: Lru[str, str] = Lru(capacity)  # str(patient id) → str(trial id)
        self.new: list[tuple[str, str]] = []
        table = self.sql_names["audit_patients"]
        self._select = f"SELECT trial_id FROM {table} WHERE patient_id = ?"

    def stored_handlers(self) -> Mapping[type, UndecodedHandler]:
        return {Patient.Enrolled: self._enrolled}

    def _enrolled(self, position: int, stored: UndecodedEvent) -> None:
        trial_id = str(stored.get("trial_id"))
        self.cache.put(stored.originator_id, trial_id)
        self.new.append((stored.originator_id, trial_id))

    def trial_of(self, patient_id: str) -> str | None:
        """The trial of a patient (``str(UUID)``; None for a patient never enrolled)."""
        trial_id = self.cache.get(patient_id)
        if trial_id is None:
            row = self.tx.fetchone(self._select, (patient_id,))
            if row is None:
                return None
            trial_id = str(row[0])
            self.cache.put(patient_id, trial_id)
        return trial_id

    def flush(self, tx: Transaction) -> None:
        self.append(tx, AUDIT_PATIENTS, self.new)
        self.new.clear()
        self.cache.trim()

    def reset(self) -> None:
        self.cache.clear()
        self.new.clear()


class AuditTrail(ReadModel):
    """One row per event, in log order."""

    name = "audit_trail"
    tables = (AUDIT,)
    takes_all_stored = True

    def __init__(self, store: Store, patients: AuditPatients) -> None:
        super().__init__(store)
        self.patients = patients
        self.rows: list[tuple[Any, ...]] = []

    def handle_stored(self, position: int, stored: UndecodedEvent) -> None:
        # audit_values: the audit_row's values, in AUDIT_COLUMNS order, without the dict.
        values = audit_values(position, stored)
        kind = values[2]
        trial_id: str | None = None
        if kind == "patient":
            trial_id = self.patients.trial_of(stored.originator_id)
        elif kind == "trial":
            trial_id = values[3]
        self.rows.append((position, trial_id, *values[1:]))

    def flush(self, tx: Transaction) -> None:
        self.append(tx, AUDIT, self.rows)
        self.rows.clear()

    def reset(self) -> None:
        self.rows.clear()


def audit_trail(
    tx: Transaction,
    store: Store,
    trial_id: UUID,
    as_of: dt.datetime | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The trial's trail (its events and its patients'), in log order, up to ``as_of`` (UTC);
    a page: at most ``limit`` rows after the position ``after``."""
    table = store.qualified("audit")
    if tx.fetchone(f"SELECT 1 FROM {table} WHERE trial_id = ? LIMIT 1", (str(trial_id),)) is None:
        raise NotFound(f"no trial {trial_id}", kind="trial", ident=str(trial_id))
    sql = f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE trial_id = ?"
    params: list[Any] = [str(trial_id)]
    if as_of is not None:
        # recorded_at is isoformat() in UTC: "…:53+00:00" or "…:53.673293+00:00". Text order is
        # time order for these ('+' sorts before '.', which sorts before the digits).
        sql += " AND recorded_at <= ?"
        stamp = as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC)
        params.append(stamp.astimezone(UTC).isoformat())
    if after:
        sql += " AND position > ?"
        params.append(after)
    sql += " ORDER BY position"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [dict(zip(COLUMNS, row, strict=True)) for row in tx.fetchall(sql, params)]
