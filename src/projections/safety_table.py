"""The safety table: patients by adverse-event term × worst CTCAE grade × dose level.

The standard phase I table: a patient counts once per term, at the worst grade that term ever
reached for them (a later grade change upwards moves them to the higher grade; a resolution
does not lower it), at their assigned dose level. Stored as one row per (trial, level, term,
patient) holding the worst grade; a batch folds its grades in memory and writes them with one
``executemany`` upsert that keeps the larger grade, so no per-event SELECT is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.errors import NotFound
from domain.patient import Patient
from projections.base import Handler, ReadModel, loads
from projections.directory import PatientDirectory
from projections.store import Store, Table, Tx

SAFETY = Table(
    "safety",
    (
        ("trial_id", "text"),
        ("level", "int"),
        ("term", "text"),
        ("patient_id", "text"),
        ("worst_grade", "int"),
    ),
    key=("trial_id", "level", "term", "patient_id"),
)
GRADES = (1, 2, 3, 4, 5)


class SafetyTable(ReadModel):
    """Worst grade per patient, term and dose level."""

    name = "safety_table"
    tables = (SAFETY,)

    def __init__(self, store: Store, directory: PatientDirectory) -> None:
        super().__init__(store)
        self.directory = directory
        self.worst: dict[tuple[str, int, str, str], int] = {}
        table = self.t["safety"]
        self._upsert = (
            f"INSERT INTO {table} (trial_id, level, term, patient_id, worst_grade) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (trial_id, level, term, patient_id) DO UPDATE "
            f"SET worst_grade = CASE WHEN excluded.worst_grade > {table}.worst_grade "
            f"THEN excluded.worst_grade ELSE {table}.worst_grade END"
        )

    def handlers(self) -> Mapping[type, Handler]:
        return {Patient.AERecorded: self._recorded, Patient.AEGraded: self._graded}

    def _recorded(self, position: int, event: Any) -> None:
        self._grade(event.originator_id, event.term, event.grade)

    def _graded(self, position: int, event: Any) -> None:
        term = self.directory.ae_term(event.ae_id)
        if term is not None:
            self._grade(event.originator_id, term, event.new_grade)

    def _grade(self, patient_id: UUID, term: str, grade: int) -> None:
        info = self.directory.patient(patient_id)
        if info is None:
            return
        key = (info.trial_id, info.level, term, info.patient_id)
        if grade > self.worst.get(key, 0):
            self.worst[key] = grade

    def flush(self, tx: Tx) -> None:
        tx.executemany(self._upsert, [(*key, grade) for key, grade in self.worst.items()])
        self.worst.clear()

    def reset(self) -> None:
        self.worst.clear()


def safety_table(tx: Tx, store: Store, trial_id: UUID) -> dict[str, Any]:
    """Patients per term, dose level and worst grade (with 'any grade' and 'grade 3+')."""
    found = tx.fetchone(
        f"SELECT dose_levels FROM {store.qualified('trials')} WHERE trial_id = ?",
        (str(trial_id),),
    )
    if found is None:
        raise NotFound(f"no trial {trial_id}", kind="trial", ident=str(trial_id))
    treated = dict(
        tx.fetchall(
            f"SELECT level, COUNT(*) FROM {store.qualified('patients')} "
            "WHERE trial_id = ? GROUP BY level",
            (str(trial_id),),
        )
    )
    levels = [
        {"level": d["level"], "dose": d["dose"], "patients": treated.get(d["level"], 0)}
        for d in loads(found[0])
    ]
    counts: dict[str, dict[int, dict[int, int]]] = {}
    for term, level, grade, patients in tx.fetchall(
        f"SELECT term, level, worst_grade, COUNT(*) FROM {store.qualified('safety')} "
        "WHERE trial_id = ? GROUP BY term, level, worst_grade",
        (str(trial_id),),
    ):
        counts.setdefault(term, {}).setdefault(level, {})[grade] = patients
    terms: list[dict[str, Any]] = []
    for term in sorted(counts):
        by_level: list[dict[str, Any]] = []
        for level in sorted(counts[term]):
            grades = counts[term][level]
            by_level.append(
                {
                    "level": level,
                    "grades": {str(g): grades.get(g, 0) for g in GRADES},
                    "any_grade": sum(grades.values()),
                    "grade_3_or_worse": sum(n for g, n in grades.items() if g >= 3),
                }
            )
        terms.append(
            {
                "term": term,
                "levels": by_level,
                "any_grade": sum(row["any_grade"] for row in by_level),
                "grade_3_or_worse": sum(row["grade_3_or_worse"] for row in by_level),
            }
        )
    return {"trial_id": str(trial_id), "levels": levels, "terms": terms}
