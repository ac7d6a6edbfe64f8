"""The trial overview: one row per trial with its status, current level, MTD and counts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from domain.errors import NotFound
from domain.protocol import DoseLevel
from domain.trial import Trial
from projections.models.base import Handler, Lru, ReadModel, dumps, loads, recorded_at
from projections.row_statements import RowStatement
from projections.store import Store, Table, Transaction

TRIALS = Table(
    "trials",
    (
        ("trial_id", "text"),
        ("name", "text"),
        ("protocol", "text"),
        ("status", "text"),
        ("current_level", "int"),
        ("current_dose", "text"),
        ("mtd", "int"),
        ("mtd_dose", "text"),
        ("patients", "int"),
        ("evaluable", "int"),
        ("not_evaluable", "int"),
        ("dlts", "int"),
        ("cohorts", "int"),
        ("decisions", "int"),
        ("version", "int"),
        ("registered_position", "int"),
        ("registered_at", "text"),
        ("updated_at", "text"),
        ("dose_levels", "text"),
    ),
    key=("trial_id",),
    indexes=(("registered_position",),),
)
COLUMNS = TRIALS.column_names
DEFAULT_CAPACITY = 10_000


def dose_labels(protocol: Mapping[str, Any]) -> dict[int, str]:
    """Dose level → label ('DL1: defactinib 200 mg BID + avutometinib 3.2 mg twice weekly').

    The domain's own labels; only the dose levels are validated (the registered protocol was
    validated whole when it was recorded).
    """
    levels = (DoseLevel.model_validate(level) for level in protocol["dose_levels"])
    return {level.level: level.label for level in levels}


class TrialOverview(ReadModel):
    """Per trial: status, current level, MTD, patients, DLTs, cohorts."""

    name = "trial_overview"
    tables = (TRIALS,)

    def __init__(self, store: Store, *, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(store)
        self.cache: Lru[UUID, dict[str, Any]] = Lru(capacity)
        self.dirty: set[UUID] = set()
        self._select = (
            f"SELECT {', '.join(COLUMNS)} FROM {self.sql_names['trials']} WHERE trial_id = ?"
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        self._upsert = RowStatement(
            f"INSERT INTO {self.sql_names['trials']} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}) "
            f"ON CONFLICT (trial_id) DO UPDATE SET {updates}",
            key=(COLUMNS.index("trial_id"),),
        )

    def handlers(self) -> Mapping[type, Handler]:
        changes: dict[type, Callable[[dict[str, Any], Any], None]] = {
            Trial.PatientEnrolled: _count("patients"),
            Trial.DLTObserved: _dlt,
            Trial.DLTWindowCompleted: _count("evaluable"),
            Trial.PatientNotEvaluable: _count("not_evaluable"),
            Trial.DLTCandidateRaised: _nothing,
            Trial.DLTCandidateAdjudicated: _nothing,
            Trial.SRCDecisionSigned: _count("decisions"),
            Trial.CohortOpened: _cohort,
            Trial.CohortExpanded: _cohort,
            Trial.MTDDeclared: _mtd,
            Trial.StoppedWithoutMTD: _stopped,
        }
        handlers: dict[type, Handler] = {Trial.Registered: self._registered}
        for cls, change in changes.items():
            handlers[cls] = self._changer(change)
        return handlers

    def _registered(self, position: int, event: Any) -> None:
        labels = dose_labels(event.protocol)
        start = event.protocol["design"].get("starting_level", 1)
        row = {
            "trial_id": str(event.originator_id),
            "name": event.name,
            "protocol": event.protocol["id"],
            "status": "escalating",
            "current_level": start,
            "current_dose": labels[start],
            "mtd": None,
            "mtd_dose": None,
            "patients": 0,
            "evaluable": 0,
            "not_evaluable": 0,
            "dlts": 0,
            "cohorts": 1,
            "decisions": 0,
            "version": event.originator_version,
            "registered_position": position,
            "registered_at": recorded_at(event),
            "updated_at": recorded_at(event),
            "dose_levels": dumps([{"level": k, "dose": v} for k, v in sorted(labels.items())]),
        }
        self.cache.put(event.originator_id, row)
        self.dirty.add(event.originator_id)

    def _changer(self, change: Callable[[dict[str, Any], Any], None]) -> Handler:
        def handle(position: int, event: Any) -> None:
            row = self._row(event.originator_id)
            if row is None:
                return  # a trial event without its registration: nothing to show
            change(row, event)
            row["version"] = event.originator_version
            row["updated_at"] = recorded_at(event)
            self.dirty.add(event.originator_id)

        return handle

    def _row(self, trial_id: UUID) -> dict[str, Any] | None:
        row = self.cache.get(trial_id)
        if row is None:
            found = self.tx.fetchone(self._select, (str(trial_id),))
            if found is None:
                return None
            row = dict(zip(COLUMNS, found, strict=True))
            self.cache.put(trial_id, row)
        return row

    def flush(self, tx: Transaction) -> None:
        rows = []
        for trial_id in self.dirty:
            row = self.cache.data[trial_id]
            rows.append(tuple(row[c] for c in COLUMNS))
        tx.executemany(self._upsert, rows)
        self.dirty.clear()
        self.cache.trim()

    def reset(self) -> None:
        self.cache.clear()
        self.dirty.clear()


def _count(column: str) -> Callable[[dict[str, Any], Any], None]:
    def change(row: dict[str, Any], event: Any) -> None:
        row[column] += 1

    return change


def _nothing(row: dict[str, Any], event: Any) -> None:
    """The event changes no column but the version."""


def _dlt(row: dict[str, Any], event: Any) -> None:
    row["dlts"] += 1
    row["evaluable"] += 1


def _cohort(row: dict[str, Any], event: Any) -> None:
    row["cohorts"] += 1
    row["current_level"] = event.level
    labels = {d["level"]: d["dose"] for d in loads(row["dose_levels"])}
    row["current_dose"] = labels.get(event.level)


def _mtd(row: dict[str, Any], event: Any) -> None:
    row["status"] = "mtd_declared"
    row["mtd"] = event.level
    row["mtd_dose"] = event.dose_label


def _stopped(row: dict[str, Any], event: Any) -> None:
    row["status"] = "stopped"


def _public(row: dict[str, Any]) -> dict[str, Any]:
    data = dict(row)
    data["dose_levels"] = loads(row["dose_levels"])
    return data


def trial_overview(tx: Transaction, store: Store, trial_id: UUID) -> dict[str, Any]:
    """One trial's overview, or NotFound."""
    row = tx.fetchone(
        f"SELECT {', '.join(COLUMNS)} FROM {store.qualified('trials')} WHERE trial_id = ?",
        (str(trial_id),),
    )
    if row is None:
        raise NotFound(f"no trial {trial_id}", kind="trial", ident=str(trial_id))
    return _public(dict(zip(COLUMNS, row, strict=True)))


def trial_overviews(tx: Transaction, store: Store) -> list[dict[str, Any]]:
    """Every trial's overview, in registration order."""
    rows = tx.fetchall(
        f"SELECT {', '.join(COLUMNS)} FROM {store.qualified('trials')} ORDER BY registered_position"
    )
    return [_public(dict(zip(COLUMNS, row, strict=True))) for row in rows]


LISTED = ("trial_id", "name", "protocol", "status", "current_level", "mtd", "registered_position")


def trial_list_page(
    tx: Transaction, store: Store, after: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` trials registered after store position ``after``, in registration order,
    as the trial list shows them, and the position to pass as ``after`` next (None: no more)."""
    rows = tx.fetchall(
        f"SELECT {', '.join(LISTED)} FROM {store.qualified('trials')} "
        "WHERE registered_position > ? ORDER BY registered_position LIMIT ?",
        (after, limit + 1),
    )
    listed = [
        {
            "id": trial_id,
            "name": name,
            "protocol": protocol,
            "status": status,
            "current_level": level,
            "mtd": mtd,
        }
        for trial_id, name, protocol, status, level, mtd, _ in rows[:limit]
    ]
    following = rows[limit - 1][-1] if len(rows) > limit else None
    return listed, following
