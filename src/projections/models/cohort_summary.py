"""The cohort summary: per trial, each cohort (and dose level) with its design's recommendation.

Per cohort: patients enrolled, evaluable, not evaluable, DLTs, the recommendation and the SRC's
signed decision (signer, meaning, reason). The recommendation of a decided cohort is the one
recorded on ``SRCDecisionSigned``; the open cohort's is computed live, as the Trial aggregate
does, once the cohort is fully evaluated: the 3+3 ``recommend`` and the interval designs'
engines need only the patients and DLTs per level and the level of the last cohort, which the
counts give. The query is ``cohort_queries.cohort_summary``. The rows equal the ``cohorts``
of ``DoseLedger.trial(id)`` for every field they share.

State per trial (protocol facts and its few cohorts) sits in an LRU cache in front of the two
tables; changed trials are written back with one upsert per row at the end of each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.designs.three_plus_three import PatientOutcome, recommend
from domain.errors import InvalidInput
from domain.protocol_design import IntervalSpec, ThreePlusThree, design_from_data, with_default_kind
from domain.trial import Trial
from domain.trial.interval_rules import recommend_from_counts
from projections.models.base import Handler, Lru, ReadModel, dumps, loads, recorded_at
from projections.models.trial_overview import dose_labels
from projections.row_statements import RowStatement
from projections.store import Store, Table, Transaction

COHORT_TRIALS = Table(
    "cohort_trials",
    (
        ("trial_id", "text"),
        ("num_levels", "int"),
        ("deescalate", "int"),
        ("cohort_size", "int"),
        ("status", "text"),
        ("dose_levels", "text"),
    ),
    key=("trial_id",),
)
COHORTS = Table(
    "cohorts",
    (
        ("trial_id", "text"),
        ("cohort", "int"),
        ("level", "int"),
        ("dose", "text"),
        ("origin", "text"),
        ("enrolled", "int"),
        ("evaluable", "int"),
        ("not_evaluable", "int"),
        ("dlts", "int"),
        ("pending_candidates", "text"),
        ("recommendation", "text"),
        ("decision", "text"),
        ("mtd_level", "int"),
        ("signed_by", "text"),
        ("signer_name", "text"),
        ("meaning", "text"),
        ("reason", "text"),
        ("signed_at", "text"),
    ),
    key=("trial_id", "cohort"),
)
COHORT_DESIGNS = Table(
    "cohort_designs",
    (("trial_id", "text"), ("design", "text")),
    key=("trial_id",),
)
"""Each trial's design as registered. A table of its own, not a column of cohort_trials, so
that a store kept before the interval designs needs no rebuild: a trial without a row is a
3+3 one (its ``deescalate`` is in cohort_trials)."""
COHORT_REVIEWS = Table(
    "cohort_reviews",
    (
        ("trial_id", "text"),
        ("cohort", "int"),
        ("position", "int"),
        ("old_dlts", "int"),
        ("new_dlts", "int"),
        ("reason", "text"),
        ("reviewed_by", "text"),
        ("review", "text"),
    ),
    key=("trial_id", "cohort", "position"),
)
TRIAL_COLUMNS = COHORT_TRIALS.column_names
COHORT_COLUMNS = COHORTS.column_names
DEFAULT_CAPACITY = 10_000


@dataclass
class TrialCohorts:
    """One trial's cohorts, as the read model keeps them between events."""

    trial_id: str
    num_levels: int
    deescalate: bool
    cohort_size: int
    status: str
    doses: dict[int, str]
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    dirty: set[int] = field(default_factory=set)
    meta_dirty: bool = False
    design: dict[str, Any] | None = None  # None: a 3+3 registered before the interval designs
    design_dirty: bool = False

    def spec(self) -> ThreePlusThree | IntervalSpec:
        """The trial's design."""
        if self.design is None:
            return ThreePlusThree(deescalate=self.deescalate)
        return design_from_data(self.design)

    def evaluated(self) -> tuple[list[int], list[int]]:
        """Evaluated patients and DLTs per level (index 0 is level 1)."""
        patients, dlts = [0] * self.num_levels, [0] * self.num_levels
        for row in self.cohorts:
            patients[row["level"] - 1] += row["evaluable"]
            dlts[row["level"] - 1] += row["dlts"]
        return patients, dlts

    def add_cohort(self, number: int, level: int, origin: str) -> None:
        self.cohorts.append(
            {
                "trial_id": self.trial_id,
                "cohort": number,
                "level": level,
                "dose": self.doses.get(level),
                "origin": origin,
                "enrolled": 0,
                "evaluable": 0,
                "not_evaluable": 0,
                "dlts": 0,
                "pending_candidates": {},
                "recommendation": None,
                "decision": None,
                "mtd_level": None,
                "signed_by": None,
                "signer_name": None,
                "meaning": None,
                "reason": None,
                "signed_at": None,
            }
        )
        self.dirty.add(number)

    def cohort(self, number: int) -> dict[str, Any]:
        self.dirty.add(number)
        return self.cohorts[number - 1]

    def fully_evaluated(self, row: dict[str, Any]) -> bool:
        active = row["enrolled"] - row["not_evaluable"]
        return (
            active == self.cohort_size
            and row["evaluable"] == active
            and not any(row["pending_candidates"].values())
        )

    def live_recommendation(self) -> str | None:
        """What ``Trial.recommendation()`` says for the open cohort (None if not yet due)."""
        if self.status != "escalating" or not self.fully_evaluated(self.cohorts[-1]):
            return None
        spec = self.spec()
        if not isinstance(spec, ThreePlusThree):
            patients, dlts = self.evaluated()
            rec = recommend_from_counts(spec, patients, dlts, self.cohorts[-1]["level"])
            return None if rec is None else rec.action
        path = []
        for row in self.cohorts:
            level = row["level"]
            path += [PatientOutcome(level, True)] * row["dlts"]
            path += [PatientOutcome(level, False)] * (row["evaluable"] - row["dlts"])
        try:
            return recommend(path, self.num_levels, deescalate=self.deescalate).action
        except InvalidInput:
            return None  # the path is no longer a 3+3 path

    def refresh(self) -> None:
        """Recompute the open cohort's live recommendation after an event."""
        row = self.cohorts[-1]
        if row["decision"] is not None:
            return
        live = self.live_recommendation()
        if row["recommendation"] != live:
            row["recommendation"] = live
            self.dirty.add(row["cohort"])


class CohortSummary(ReadModel):
    """Per trial and cohort: enrolled, evaluable, DLTs, recommendation, SRC decision."""

    name = "cohort_summary"
    tables = (COHORT_TRIALS, COHORTS, COHORT_DESIGNS, COHORT_REVIEWS)

    def __init__(self, store: Store, *, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(store)
        self.cache: Lru[UUID, TrialCohorts] = Lru(capacity)
        self.changed: set[UUID] = set()
        trials, cohorts = self.sql_names["cohort_trials"], self.sql_names["cohorts"]
        self._select_trial = f"SELECT {', '.join(TRIAL_COLUMNS)} FROM {trials} WHERE trial_id = ?"
        self._select_cohorts = (
            f"SELECT {', '.join(COHORT_COLUMNS)} FROM {cohorts} WHERE trial_id = ? ORDER BY cohort"
        )
        self._upsert_trial = _upsert(trials, TRIAL_COLUMNS, ("trial_id",))
        designs = self.sql_names["cohort_designs"]
        self._select_design = f"SELECT design FROM {designs} WHERE trial_id = ?"
        self._upsert_design = _upsert(designs, ("trial_id", "design"), ("trial_id",))
        reviews = self.sql_names["cohort_reviews"]
        self.flags: list[tuple[Any, ...]] = []
        self.reviews: list[tuple[Any, ...]] = []
        self._insert_flag = RowStatement(
            f"INSERT INTO {reviews} (trial_id, cohort, position, old_dlts, new_dlts, reason) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trial_id, cohort, position) DO NOTHING",
            key=(0, 1, 2),
        )
        self._mark_reviewed = RowStatement(
            f"UPDATE {reviews} SET reviewed_by = ?, review = ? "
            "WHERE trial_id = ? AND cohort = ? AND reviewed_by IS NULL",
            key=(2, 3),
        )
        self._upsert_cohort = _upsert(cohorts, COHORT_COLUMNS, ("trial_id", "cohort"))

    def handlers(self) -> Mapping[type, Handler]:
        changes: dict[type, Callable[[TrialCohorts, Any], None]] = {
            Trial.PatientEnrolled: _enrolled,
            Trial.DLTCandidateRaised: _candidate_raised,
            Trial.DLTCandidateAdjudicated: _candidate_adjudicated,
            Trial.DLTObserved: _dlt,
            Trial.DLTWindowCompleted: _no_dlt,
            Trial.PatientNotEvaluable: _not_evaluable,
            Trial.SRCDecisionSigned: _decision,
            Trial.CohortOpened: _opened,
            Trial.CohortExpanded: _expanded,
            Trial.MTDDeclared: _mtd,
            Trial.StoppedWithoutMTD: _stopped,
            Trial.OutcomeRevised: _outcome_revised,
        }
        handlers: dict[type, Handler] = {
            Trial.Registered: self._registered,
            Trial.DecisionFlaggedForReview: self._flagged,
            Trial.DecisionReviewed: self._reviewed,
        }
        for cls, change in changes.items():
            handlers[cls] = self._changer(change)
        return handlers

    def _registered(self, position: int, event: Any) -> None:
        design = event.protocol["design"]
        labels = dose_labels(event.protocol)
        state = TrialCohorts(
            trial_id=str(event.originator_id),
            num_levels=len(labels),
            deescalate=bool(design.get("deescalate", True)),
            cohort_size=int(design.get("cohort_size", 3)),
            status="escalating",
            doses=labels,
            meta_dirty=True,
            design=dict(with_default_kind(design)),
            design_dirty=True,
        )
        state.add_cohort(1, int(design.get("starting_level", 1)), "start")
        self.cache.put(event.originator_id, state)
        self.changed.add(event.originator_id)

    def _flagged(self, position: int, event: Any) -> None:
        self.flags.append(
            (
                str(event.originator_id),
                event.cohort,
                position,
                event.old_dlts,
                event.new_dlts,
                event.reason,
            )
        )

    def _reviewed(self, position: int, event: Any) -> None:
        who = (event.actor or {}).get("user_id")
        text = f"{event.outcome}: {event.reason}"
        self.reviews.append((who, text, str(event.originator_id), event.cohort))

    def _changer(self, change: Callable[[TrialCohorts, Any], None]) -> Handler:
        def handle(position: int, event: Any) -> None:
            state = self._state(event.originator_id)
            if state is None:
                return
            change(state, event)
            state.refresh()
            self.changed.add(event.originator_id)

        return handle

    def _state(self, trial_id: UUID) -> TrialCohorts | None:
        state = self.cache.get(trial_id)
        if state is None:
            meta = self.tx.fetchone(self._select_trial, (str(trial_id),))
            if meta is None:
                return None
            row = dict(zip(TRIAL_COLUMNS, meta, strict=True))
            state = TrialCohorts(
                trial_id=row["trial_id"],
                num_levels=row["num_levels"],
                deescalate=bool(row["deescalate"]),
                cohort_size=row["cohort_size"],
                status=row["status"],
                doses={d["level"]: d["dose"] for d in loads(row["dose_levels"])},
            )
            found_design = self.tx.fetchone(self._select_design, (str(trial_id),))
            if found_design is not None:
                state.design = loads(found_design[0])
            for found in self.tx.fetchall(self._select_cohorts, (str(trial_id),)):
                cohort = dict(zip(COHORT_COLUMNS, found, strict=True))
                cohort["pending_candidates"] = loads(cohort["pending_candidates"])
                state.cohorts.append(cohort)
            self.cache.put(trial_id, state)
        return state

    def flush(self, tx: Transaction) -> None:
        trials, cohorts, designs = [], [], []
        for trial_id in self.changed:
            state = self.cache.data[trial_id]
            if state.design_dirty:
                designs.append((state.trial_id, dumps(state.design)))
                state.design_dirty = False
            if state.meta_dirty:
                doses = [{"level": k, "dose": v} for k, v in sorted(state.doses.items())]
                trials.append(
                    (
                        state.trial_id,
                        state.num_levels,
                        int(state.deescalate),
                        state.cohort_size,
                        state.status,
                        dumps(doses),
                    )
                )
                state.meta_dirty = False
            for number in sorted(state.dirty):
                row = state.cohorts[number - 1]
                cohorts.append(
                    tuple(
                        dumps(row[c]) if c == "pending_candidates" else row[c]
                        for c in COHORT_COLUMNS
                    )
                )
            state.dirty.clear()
        tx.executemany(self._upsert_trial, trials)
        tx.executemany(self._upsert_design, designs)
        tx.executemany(self._upsert_cohort, cohorts)
        tx.executemany(self._insert_flag, self.flags)
        tx.executemany(self._mark_reviewed, self.reviews)
        self.flags.clear()
        self.reviews.clear()
        self.changed.clear()
        self.cache.trim()

    def reset(self) -> None:
        self.cache.clear()
        self.changed.clear()
        self.flags.clear()
        self.reviews.clear()


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> RowStatement:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return RowStatement(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
        key=tuple(columns.index(c) for c in key),
    )


# ----------------------------------------------------------------- changes per event


def _enrolled(state: TrialCohorts, event: Any) -> None:
    state.cohort(event.cohort)["enrolled"] += 1


def _candidate_raised(state: TrialCohorts, event: Any) -> None:
    pending = state.cohort(event.cohort)["pending_candidates"]
    patient = str(event.patient_id)
    pending[patient] = pending.get(patient, 0) + 1


def _candidate_adjudicated(state: TrialCohorts, event: Any) -> None:
    patient = str(event.patient_id)
    for row in state.cohorts:
        pending = row["pending_candidates"]
        if pending.get(patient):
            pending[patient] -= 1
            if not pending[patient]:
                del pending[patient]
            state.dirty.add(row["cohort"])
            return


def _dlt(state: TrialCohorts, event: Any) -> None:
    row = state.cohort(event.cohort)
    row["dlts"] += 1
    row["evaluable"] += 1
    row["pending_candidates"].pop(str(event.patient_id), None)


def _no_dlt(state: TrialCohorts, event: Any) -> None:
    state.cohort(event.cohort)["evaluable"] += 1


def _not_evaluable(state: TrialCohorts, event: Any) -> None:
    state.cohort(event.cohort)["not_evaluable"] += 1


def _outcome_revised(state: TrialCohorts, event: Any) -> None:
    """Corrected facts changed a patient's outcome: the cohort's counts follow."""
    row = state.cohort(event.cohort)
    for outcome, step in ((event.old_outcome, -1), (event.new_outcome, 1)):
        if outcome in ("dlt", "no_dlt"):
            row["evaluable"] += step
        if outcome == "dlt":
            row["dlts"] += step
        if outcome == "not_evaluable":
            row["not_evaluable"] += step


def _decision(state: TrialCohorts, event: Any) -> None:
    row = state.cohort(event.cohort)
    recommendation = event.recommendation
    actor = event.actor or {}
    row["recommendation"] = None if recommendation is None else recommendation["action"]
    row["decision"] = event.decision
    row["mtd_level"] = event.mtd_level
    row["signed_by"] = actor.get("user_id")
    row["signer_name"] = actor.get("name")
    row["meaning"] = event.meaning
    row["reason"] = event.reason
    row["signed_at"] = recorded_at(event)


def _opened(state: TrialCohorts, event: Any) -> None:
    state.add_cohort(event.cohort, event.level, event.origin)


def _expanded(state: TrialCohorts, event: Any) -> None:
    state.add_cohort(event.cohort, event.level, "expansion")


def _mtd(state: TrialCohorts, event: Any) -> None:
    state.status = "mtd_declared"
    state.meta_dirty = True


def _stopped(state: TrialCohorts, event: Any) -> None:
    state.status = "stopped"
    state.meta_dirty = True
