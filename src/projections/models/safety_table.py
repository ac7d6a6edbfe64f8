"""The safety table: patients by adverse-event term × worst CTCAE grade × dose level.

The standard phase I table: a patient counts once per term, at the worst grade that term ever
reached for them (a later grade change upwards moves them to the higher grade; a resolution
does not lower it), at their assigned dose level. Stored as one row per AE episode holding its
worst grade, so that a correction of an episode's grade sets it and an episode entered in error
is deleted; the query takes each patient's worst episode per term. A batch folds its grades in
memory and writes them with ``executemany`` upserts, so no per-event SELECT is needed. The
doses given against an open requirement (protocol deviations, domain.md §5a) are listed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.errors import NotFound
from domain.patient import Patient
from projections.models.base import Handler, ReadModel, dumps, loads
from projections.models.directory import PatientDirectory
from projections.row_statements import RowStatement
from projections.store import Store, Table, Transaction
from projections.undecoded import id_text

SAFETY = Table(
    "safety_by_ae",
    (
        ("trial_id", "text"),
        ("level", "int"),
        ("term", "text"),
        ("patient_id", "text"),
        ("ae_id", "text"),
        ("worst_grade", "int"),
    ),
    key=("ae_id",),
    indexes=(("trial_id", "term", "level"),),
)
DEVIATIONS = Table(
    "safety_deviations",
    (
        ("trial_id", "text"),
        ("level", "int"),
        ("patient_id", "text"),
        ("subject_id", "text"),
        ("clinical_date", "text"),
        ("reason", "text"),
        ("requirements", "text"),
    ),
    key=("patient_id", "clinical_date"),
    indexes=(("trial_id",),),
)
GRADES = (1, 2, 3, 4, 5)
# What a batch does to one AE's row: (trial, level, term, patient, grade, exact), None = delete.
Change = tuple[str, int, str, str, int, bool] | None


class SafetyTable(ReadModel):
    """Worst grade per AE episode (a patient counts once per term, at its worst episode), and
    the doses given against an open requirement (protocol deviations)."""

    name = "safety_table"
    tables = (SAFETY, DEVIATIONS)

    def __init__(self, store: Store, directory: PatientDirectory) -> None:
        super().__init__(store)
        self.directory = directory
        self.changes: dict[str, Change] = {}
        self.deviations: list[tuple[Any, ...]] = []
        table = self.sql_names["safety_by_ae"]
        columns = "(trial_id, level, term, patient_id, ae_id, worst_grade)"
        # Keys (RowStatement): the ae_id, 5th of the columns; a deviation's patient and day.
        self._keep_worst = RowStatement(
            f"INSERT INTO {table} {columns} VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ae_id) "
            f"DO UPDATE SET worst_grade = CASE WHEN excluded.worst_grade > {table}.worst_grade "
            f"THEN excluded.worst_grade ELSE {table}.worst_grade END",
            key=(4,),
        )
        self._set = RowStatement(
            f"INSERT INTO {table} {columns} VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ae_id) "
            "DO UPDATE SET worst_grade = excluded.worst_grade",
            key=(4,),
        )
        self._delete = RowStatement(f"DELETE FROM {table} WHERE ae_id = ?", key=(0,))
        self._insert_deviation = RowStatement(
            f"INSERT INTO {self.sql_names['safety_deviations']} (trial_id, level, patient_id, "
            "subject_id, clinical_date, reason, requirements) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (patient_id, clinical_date) DO NOTHING",
            key=(2, 4),
        )

    def handlers(self) -> Mapping[type, Handler]:
        return {
            Patient.AERecorded: self._recorded,
            Patient.AEGraded: self._graded,
            Patient.FactCorrected: self._corrected,
            Patient.FactEnteredInError: self._in_error,
            Patient.DoseDeviationRecorded: self._deviation,
        }

    def _recorded(self, position: int, event: Any) -> None:
        self._grade(event.originator_id, event.ae_id, event.term, event.grade)

    def _graded(self, position: int, event: Any) -> None:
        term = self.directory.ae_term(event.ae_id)
        if term is not None:
            self._grade(event.originator_id, event.ae_id, term, event.new_grade)

    def _corrected(self, position: int, event: Any) -> None:
        worst = event.changes.get("worst_grade")
        term = self.directory.ae_term(UUID(event.ref)) if event.fact == "adverse_event" else None
        if worst is not None and term is not None:
            self._grade(event.originator_id, UUID(event.ref), term, int(worst[1]), exact=True)

    def _in_error(self, position: int, event: Any) -> None:
        if event.fact == "adverse_event":
            self.changes[event.ref] = None

    def _deviation(self, position: int, event: Any) -> None:
        info = self.directory.patient(event.originator_id)
        if info is None:
            return
        self.deviations.append(
            (
                info.trial_id,
                info.level,
                info.patient_id,
                info.subject_id,
                event.clinical_date.isoformat(),
                event.reason,
                dumps(event.requirements),
            )
        )

    def _grade(
        self, patient_id: UUID, ae_id: UUID, term: str, grade: int, *, exact: bool = False
    ) -> None:
        info = self.directory.patient(patient_id)
        if info is None:
            return
        key = id_text(ae_id)
        before = self.changes.get(key)
        if before is not None and not exact:
            grade = max(grade, before[4])
            exact = before[5]
        self.changes[key] = (info.trial_id, info.level, term, info.patient_id, grade, exact)

    def flush(self, tx: Transaction) -> None:
        keep, exact, gone = [], [], []
        for ae_id, change in self.changes.items():
            if change is None:
                gone.append((ae_id,))
                continue
            trial_id, level, term, patient_id, grade, is_exact = change
            (exact if is_exact else keep).append((trial_id, level, term, patient_id, ae_id, grade))
        tx.executemany(self._keep_worst, keep)
        tx.executemany(self._set, exact)
        tx.executemany(self._delete, gone)
        tx.executemany(self._insert_deviation, self.deviations)
        self.changes.clear()
        self.deviations.clear()

    def reset(self) -> None:
        self.changes.clear()
        self.deviations.clear()


def term_rows(counts: Mapping[str, Mapping[int, Mapping[int, int]]]) -> list[dict[str, Any]]:
    """Per term (sorted), per dose level: patients by worst grade, any grade and grade 3+;
    ``counts``: term → level → worst grade → patients."""
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
    return terms


def safety_table(tx: Transaction, store: Store, trial_id: UUID) -> dict[str, Any]:
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
        "SELECT term, level, worst, COUNT(*) FROM (SELECT term, level, patient_id, "
        f"MAX(worst_grade) AS worst FROM {store.qualified('safety_by_ae')} WHERE trial_id = ? "
        "GROUP BY term, level, patient_id) AS per_patient GROUP BY term, level, worst",
        (str(trial_id),),
    ):
        counts.setdefault(term, {}).setdefault(level, {})[grade] = patients
    terms = term_rows(counts)
    deviations = [
        {
            "subject_id": subject_id,
            "patient_id": patient_id,
            "level": level,
            "clinical_date": clinical_date,
            "reason": reason,
            "requirements": loads(requirements),
        }
        for level, patient_id, subject_id, clinical_date, reason, requirements in tx.fetchall(
            "SELECT level, patient_id, subject_id, clinical_date, reason, requirements FROM "
            f"{store.qualified('safety_deviations')} WHERE trial_id = ? "
            "ORDER BY clinical_date, subject_id",
            (str(trial_id),),
        )
    ]
    return {"trial_id": str(trial_id), "levels": levels, "terms": terms, "deviations": deviations}
