"""The patient directory: patient → trial, cohort and dose level; adverse event → term.

Every patient event names only its patient, so the other read models look the trial (and the
dose level, the DLT window, an AE's term) up here. The map is a table plus a bounded LRU cache:
memory does not grow with the number of patients; a patient evicted from the cache costs one
indexed SELECT when its next event comes (events of one patient are close together in the log,
so misses are rare). Rows are queued per batch and written with one ``executemany``; look-ups
during the batch see the queued rows through the cache (entries are never evicted mid-batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from uuid import UUID

from domain.patient import Patient
from projections.models.base import Handler, Lru, ReadModel
from projections.store import Store, Table, Transaction
from projections.undecoded import id_text

PATIENTS = Table(
    "patients",
    (
        ("patient_id", "text"),
        ("trial_id", "text"),
        ("subject_id", "text"),
        ("site_id", "text"),
        ("cohort", "int"),
        ("level", "int"),
        ("dlt_window_days", "int"),
        ("enrolled_position", "int"),
    ),
    key=("patient_id",),
    indexes=(("trial_id", "level"),),
)
ADVERSE_EVENTS = Table(
    "adverse_events",
    (("ae_id", "text"), ("patient_id", "text"), ("term", "text")),
    key=("ae_id",),
)
DEFAULT_CAPACITY = 50_000


class PatientInfo(NamedTuple):
    """What the other read models need to know about a patient."""

    patient_id: str
    trial_id: str
    subject_id: str
    site_id: str
    cohort: int
    level: int
    dlt_window_days: int
    enrolled_position: int


class PatientDirectory(ReadModel):
    """patient → trial (and more), AE → term: a table with an LRU cache in front."""

    name = "directory"
    tables = (PATIENTS, ADVERSE_EVENTS)

    def __init__(self, store: Store, *, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(store)
        # Keyed by UUID.int: an int hashes and compares in C, a UUID in Python.
        self.patients: Lru[int, PatientInfo] = Lru(capacity)
        self.terms: Lru[int, str] = Lru(capacity)
        self.new_patients: list[PatientInfo] = []
        self.new_aes: list[tuple[str, str, str]] = []
        self._select_patient = (
            f"SELECT {', '.join(PATIENTS.column_names)} FROM {self.sql_names['patients']} "
            "WHERE patient_id = ?"
        )
        self._select_term = f"SELECT term FROM {self.sql_names['adverse_events']} WHERE ae_id = ?"

    def handlers(self) -> Mapping[type, Handler]:
        return {Patient.Enrolled: self._enrolled, Patient.AERecorded: self._ae_recorded}

    def _enrolled(self, position: int, event: Any) -> None:
        info = PatientInfo(
            id_text(event.originator_id),
            id_text(event.trial_id),
            event.subject_id,
            event.site_id,
            event.cohort,
            event.level,
            event.dlt_window_days,
            position,
        )
        self.patients.put(event.originator_id.int, info)
        self.new_patients.append(info)

    def _ae_recorded(self, position: int, event: Any) -> None:
        self.terms.put(event.ae_id.int, event.term)
        self.new_aes.append((id_text(event.ae_id), id_text(event.originator_id), event.term))

    # ----------------------------------------------------------------- look-ups (in a batch)

    def patient(self, patient_id: UUID) -> PatientInfo | None:
        """The patient's directory entry, or None for a patient never enrolled."""
        info = self.patients.get(patient_id.int)
        if info is None:
            row = self.tx.fetchone(self._select_patient, (str(patient_id),))
            if row is None:
                return None
            info = PatientInfo(*row)
            self.patients.put(patient_id.int, info)
        return info

    def ae_term(self, ae_id: UUID) -> str | None:
        """The CTCAE term of an adverse event."""
        term = self.terms.get(ae_id.int)
        if term is None:
            row = self.tx.fetchone(self._select_term, (str(ae_id),))
            if row is None:
                return None
            term = str(row[0])
            self.terms.put(ae_id.int, term)
        return term

    # ----------------------------------------------------------------- batch

    def flush(self, tx: Transaction) -> None:
        self.append(tx, PATIENTS, self.new_patients)
        self.append(tx, ADVERSE_EVENTS, self.new_aes)
        self.new_patients.clear()
        self.new_aes.clear()
        self.patients.trim()
        self.terms.trim()

    def reset(self) -> None:
        self.patients.clear()
        self.terms.clear()
        self.new_patients.clear()
        self.new_aes.clear()


def patient_row(tx: Transaction, store: Store, patient_id: UUID) -> PatientInfo | None:
    """A patient's directory entry, read outside the runner (queries)."""
    row = tx.fetchone(
        f"SELECT {', '.join(PATIENTS.column_names)} FROM {store.qualified('patients')} "
        "WHERE patient_id = ?",
        (str(patient_id),),
    )
    return None if row is None else PatientInfo(*row)
