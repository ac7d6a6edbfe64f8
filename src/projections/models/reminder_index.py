"""The reminder index: every reminder the events opened, with its due time and its state.

A scheduler tick must find what is due among every patient's reminders without replaying
anyone: this read model keeps one row per reminder (``open``, ``cleared`` or ``issued``),
indexed by state and due time, so "what is due at T" is one indexed range query.

Rows come from the domain's own derivation (``domain.reminder_schedule``), applied event by event: a
``PatientFollowUps`` fold per patient (plain JSON in ``reminder_patients``, behind an LRU
cache) says which reminders a patient event opens or clears; the open cohort's "SRC decision
due" comes from the cohort summary's state (this model follows it); ``Reminder.Issued`` (a tick
fired one) marks its row ``issued``.

The follow-up eye exam of the current cycle depends on the instant asked about. Its row is the
*next* follow-up not yet issued or examined; once due, ``due_rows`` asks the fold (kept in the
row's ``detail``) which cycle's follow-up is current at the instant, as the domain does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.ctcae import CtcaeCatalogue
from domain.patient import Patient
from domain.reminder_schedule import (
    EYE_EXAM_WINDOW_DAYS,
    OpenReminder,
    PatientFollowUps,
    Reminder,
    eye_disorder_terms,
    reminder_id,
)
from domain.trial import Trial
from projections.models.base import Handler, Lru, ReadModel, dumps, loads
from projections.models.cohort_summary import CohortSummary
from projections.row_statements import RowStatement
from projections.store import Store, Table, Transaction
from projections.undecoded import id_text

REMINDERS = Table(
    "reminders",
    (
        ("reminder_id", "text"),
        ("kind", "text"),
        ("trial_id", "text"),
        ("patient_id", "text"),
        ("cohort", "int"),
        ("due_at", "text"),
        ("state", "text"),
        ("opened_position", "int"),
        ("closed_position", "int"),
        ("fired_at", "text"),
        ("current_until", "text"),
        ("last_exam_due", "text"),
        ("detail", "text"),
    ),
    key=("reminder_id",),
    # The tick's query reads what is due in (due_at, reminder_id) order straight off the index.
    indexes=(("state", "due_at", "reminder_id"), ("patient_id",)),
    replaced_indexes=(("state", "due_at"),),
    lookups=(("trial_id", "kind"),),  # an open cohort's SRC reminder, looked up by handlers
)
REMINDER_PATIENTS = Table(
    "reminder_patients",
    (("patient_id", "text"), ("fold", "text"), ("follow_ups_issued", "int")),
    key=("patient_id",),
)
REMINDER_TRIALS = Table(
    "reminder_trials",
    (("trial_id", "text"), ("cycle_days", "int")),
    key=("trial_id",),
)
# Added after reminder_trials: a table of its own, so stores kept before get it created (a
# trial without a row registered before the setting existed: the protocol default).
REMINDER_EXAM_WINDOWS = Table(
    "reminder_exam_windows",
    (("trial_id", "text"), ("window_days", "int")),
    key=("trial_id",),
)
COLUMNS = REMINDERS.column_names
STATES = ("open", "cleared", "issued")
FOLLOW_UP = "ophthalmology_follow_up"
DEFAULT_CAPACITY = 50_000


def due_text(instant: dt.datetime) -> str:
    """A due time as stored: ISO 8601 UTC with microseconds, so text order is time order."""
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")


class _Patient:
    """A patient's fold, how many follow-ups were issued, and its current follow-up row."""

    __slots__ = ("fold", "follow_up_row", "follow_ups_issued")

    def __init__(self, fold: PatientFollowUps, follow_ups_issued: int) -> None:
        self.fold = fold
        self.follow_ups_issued = follow_ups_issued
        self.follow_up_row = self.follow_up()

    def follow_up(self) -> tuple[int, int, tuple[int, ...]] | None:
        """What the next follow-up row depends on: its cycle, the dosing version, the cycles
        examined so far (cheap to compare after every event; the reminder is made on change)."""
        fold = self.fold
        cycle = fold.next_follow_up_cycle(self.follow_ups_issued)
        if cycle is None:
            return None
        return cycle, fold.dosing_version, tuple(sorted(fold.examined))

    def follow_up_columns(self, cycle: int) -> dict[str, Any]:
        """What the follow-up row of ``cycle`` carries besides the reminder: when its own
        cycle is over (the next one's due time, at the start of a site day), the due time of
        the latest examined cycle, and what decides the current cycle."""
        fold = self.fold
        latest = max(fold.examined, default=None)
        detail = {
            "first_dose": fold.first_dose,
            "cycle_days": fold.cycle_days,
            "dosing_version": fold.dosing_version,
            "examined": sorted(fold.examined),
            "time_zone": fold.time_zone,
        }
        return {
            "current_until": fold.follow_up(cycle + 1).due_at,
            "last_exam_due": None if latest is None else fold.follow_up(latest).due_at,
            "detail": dumps(detail),
        }


class ReminderIndex(ReadModel):
    """Reminders by state and due time (follows the cohort summary for SRC decisions)."""

    name = "reminder_index"
    tables = (REMINDERS, REMINDER_PATIENTS, REMINDER_TRIALS, REMINDER_EXAM_WINDOWS)

    def __init__(
        self,
        store: Store,
        cohorts: CohortSummary,
        *,
        capacity: int = DEFAULT_CAPACITY,
        eye_terms: frozenset[str] | None = None,
    ) -> None:
        super().__init__(store)
        self.cohorts = cohorts
        self.eye_terms = (
            eye_disorder_terms(CtcaeCatalogue.load()) if eye_terms is None else eye_terms
        )
        self.patients: Lru[UUID, _Patient] = Lru(capacity)
        self.cycles: Lru[UUID, int] = Lru(capacity)
        self.windows: Lru[UUID, int] = Lru(capacity)
        self.changed: set[UUID] = set()
        self.new_trials: list[tuple[str, int]] = []
        self.new_windows: list[tuple[str, int]] = []
        # Row changes in event order: ("open" | "clear" | "issue" | "drop", parameters).
        self.ops: list[tuple[str, tuple[Any, ...]]] = []
        r, p = self.sql_names["reminders"], self.sql_names["reminder_patients"]
        # Keys (RowStatement): where each statement's parameters carry the reminder_id.
        self._sql = {
            "open": RowStatement(
                f"INSERT INTO {r} ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT (reminder_id) DO NOTHING",
                key=(COLUMNS.index("reminder_id"),),
            ),
            "clear": RowStatement(
                f"UPDATE {r} SET state = 'cleared', closed_position = ? "
                "WHERE reminder_id = ? AND state = 'open'",
                key=(1,),
            ),
            "issue": RowStatement(
                f"INSERT INTO {r} ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT (reminder_id) DO UPDATE "
                "SET state = 'issued', closed_position = excluded.closed_position, "
                "fired_at = excluded.fired_at",
                key=(COLUMNS.index("reminder_id"),),
            ),
            "refresh": RowStatement(
                f"UPDATE {r} SET current_until = ?, last_exam_due = ?, detail = ? "
                "WHERE reminder_id = ? AND state = 'open'",
                key=(3,),
            ),
            "drop": RowStatement(
                f"DELETE FROM {r} WHERE reminder_id = ? AND state = 'open'", key=(0,)
            ),
        }
        self._select_fold = f"SELECT fold, follow_ups_issued FROM {p} WHERE patient_id = ?"
        self._upsert_fold = RowStatement(
            f"INSERT INTO {p} (patient_id, fold, follow_ups_issued) VALUES (?, ?, ?) "
            "ON CONFLICT (patient_id) DO UPDATE SET fold = excluded.fold, "
            "follow_ups_issued = excluded.follow_ups_issued",
            key=(0,),
        )
        self._select_cycle = (
            f"SELECT cycle_days FROM {self.sql_names['reminder_trials']} WHERE trial_id = ?"
        )
        windows = self.sql_names["reminder_exam_windows"]
        self._select_window = f"SELECT window_days FROM {windows} WHERE trial_id = ?"
        self._select_src_id = (
            f"SELECT reminder_id FROM {r} "
            "WHERE trial_id = ? AND kind = 'src_decision_due' AND cohort = ?"
        )
        self._select_src_cohorts = (
            f"SELECT cohort FROM {r} WHERE trial_id = ? AND kind = 'src_decision_due'"
        )
        self._select_rereview = (
            f"SELECT reminder_id FROM {r} WHERE trial_id = ? AND kind = 'src_rereview' "
            "AND cohort = ? AND state = 'open' ORDER BY position DESC"
        )
        # trial → the cohorts whose SRC reminder was opened (see _src_seen).
        self.src_cohorts: Lru[UUID, set[int]] = Lru(capacity)
        self.src_ids: Lru[tuple[UUID, int], str] = Lru(capacity)
        # Re-reviews opened in this batch (not yet in the table), by trial and cohort.
        self.rereviews: dict[tuple[UUID, int], str] = {}

    def handlers(self) -> Mapping[type, Handler]:
        handlers: dict[type, Handler] = {
            Trial.Registered: self._trial_registered,
            Patient.Enrolled: self._enrolled,
            Reminder.Issued: self._issued,
        }
        for cls in (
            Patient.BaselineEyeExamRecorded,
            Patient.DosingStarted,
            Patient.DLTWindowClosed,
            Patient.AERecorded,
            Patient.EyeExamRecorded,
            Patient.DoseHeld,
            Patient.AEGraded,
            Patient.AEResolved,
            Patient.DoseResumed,
            Patient.TreatmentDiscontinued,
        ):
            handlers[cls] = self._patient_event
        for trial_event in self.cohorts.handlers():
            if trial_event is not Trial.Registered:
                handlers[trial_event] = self._trial_event
        return handlers

    # ----------------------------------------------------------------- trials

    def _trial_registered(self, position: int, event: Any) -> None:
        cycle = int(event.protocol["schedule"]["cycle_length_days"])
        self.cycles.put(event.originator_id, cycle)
        self.new_trials.append((str(event.originator_id), cycle))
        window = int(event.protocol.get("eye_exam_window_days", EYE_EXAM_WINDOW_DAYS))
        self.windows.put(event.originator_id, window)
        self.new_windows.append((str(event.originator_id), window))

    def _exam_window(self, trial_id: UUID) -> int:
        window = self.windows.get(trial_id)
        if window is None:
            found = self.tx.fetchone(self._select_window, (str(trial_id),))
            window = EYE_EXAM_WINDOW_DAYS if found is None else int(found[0])
            self.windows.put(trial_id, window)
        return window

    def _cycle_days(self, trial_id: UUID) -> int | None:
        cycle = self.cycles.get(trial_id)
        if cycle is None:
            found = self.tx.fetchone(self._select_cycle, (str(trial_id),))
            if found is None:
                return None
            cycle = int(found[0])
            self.cycles.put(trial_id, cycle)
        return cycle

    def _trial_event(self, position: int, event: Any) -> None:
        trial_id = event.originator_id
        if isinstance(event, Trial.DecisionFlaggedForReview):
            due = reminder_id(trial_id, event.originator_version, "src_rereview")
            reminder = OpenReminder(due, "src_rereview", trial_id, None, event.timestamp)
            self.ops.append(("open", self._row(reminder, position, cohort=event.cohort)))
            self.rereviews[(trial_id, event.cohort)] = str(due)
            return
        if isinstance(event, Trial.DecisionReviewed):
            ident = self.rereviews.pop((trial_id, event.cohort), None)
            if ident is None:
                found = self.tx.fetchone(self._select_rereview, (str(trial_id), event.cohort))
                ident = None if found is None else str(found[0])
            if ident is not None:
                self.ops.append(("clear", (position, ident)))
            return
        if isinstance(event, Trial.SRCDecisionSigned):
            ident = self._src_id(trial_id, event.cohort)
            if ident is not None:
                self.ops.append(("clear", (position, ident)))
        state = self.cohorts._state(trial_id)
        if state is None or not state.cohorts:
            return
        row = state.cohorts[-1]
        number = row["cohort"]
        if (
            state.status != "escalating"
            or row["decision"] is not None
            or not state.fully_evaluated(row)
            or self._src_seen(trial_id, number)
        ):
            return
        due = reminder_id(trial_id, event.originator_version, "src_decision_due")
        self._src_cohorts(trial_id).add(number)
        self.src_ids.put((trial_id, number), str(due))
        reminder = OpenReminder(due, "src_decision_due", trial_id, None, event.timestamp)
        self.ops.append(("open", self._row(reminder, position, cohort=number)))

    def _src_seen(self, trial_id: UUID, cohort: int) -> bool:
        """Whether the cohort's SRC reminder was ever opened."""
        return cohort in self._src_cohorts(trial_id)

    def _src_cohorts(self, trial_id: UUID) -> set[int]:
        """The trial's cohorts whose SRC reminder was opened: one query per trial, then kept
        with what this model opens. This read model is the only writer of its rows, and the
        runner resets its caches when another process moved its position, so the set stays
        whole. (It was a query per cohort: 326 in the benchmark's 100,000-event rebuild, now
        90; docs/benchmarks.md, "Eighth session".)"""
        cohorts = self.src_cohorts.get(trial_id)
        if cohorts is None:
            rows = self.tx.fetchall(self._select_src_cohorts, (str(trial_id),))
            cohorts = {int(row[0]) for row in rows}
            self.src_cohorts.put(trial_id, cohorts)
        return cohorts

    def _src_id(self, trial_id: UUID, cohort: int) -> str | None:
        ident = self.src_ids.get((trial_id, cohort))
        if ident is None:
            found = self.tx.fetchone(self._select_src_id, (str(trial_id), cohort))
            ident = None if found is None else str(found[0])
        return ident

    # ----------------------------------------------------------------- patients

    def _enrolled(self, position: int, event: Any) -> None:
        cycle = self._cycle_days(event.trial_id)
        if cycle is None:
            return  # a patient of an unknown trial: nothing to remind anyone of
        window = self._exam_window(event.trial_id)
        patient = _Patient(PatientFollowUps.enrolled(event, cycle, window), 0)
        self.patients.put(event.originator_id, patient)
        self.changed.add(event.originator_id)
        self._sync(position, patient, {})

    def _patient_event(self, position: int, event: Any) -> None:
        patient = self._patient(event.originator_id)
        if patient is None:
            return
        before = dict(patient.fold.opened)
        if patient.fold.apply(event, self.eye_terms):  # else nothing to write or compare
            self.changed.add(event.originator_id)
            self._sync(position, patient, before)

    def _issued(self, position: int, event: Any) -> None:
        reminder = OpenReminder(
            event.originator_id, event.kind, event.trial_id, event.patient_id, event.due_at
        )
        row = self._row(reminder, position, state="issued", fired_at=event.fired_at)
        self.ops.append(("issue", row))
        if event.kind != FOLLOW_UP or event.patient_id is None:
            return
        patient = self._patient(event.patient_id)
        if patient is None or patient.fold.first_dose is None:
            return
        cycle = patient.fold.follow_up_cycle(event.due_at)
        if cycle > patient.follow_ups_issued:
            patient.follow_ups_issued = cycle
            self.changed.add(event.patient_id)
            self._sync(position, patient, patient.fold.opened)

    def _patient(self, patient_id: UUID) -> _Patient | None:
        patient = self.patients.get(patient_id)
        if patient is None:
            found = self.tx.fetchone(self._select_fold, (str(patient_id),))
            if found is None:
                return None
            patient = _Patient(PatientFollowUps.from_data(loads(found[0])), int(found[1]))
            self.patients.put(patient_id, patient)
        return patient

    def _sync(self, position: int, patient: _Patient, before: dict[str, OpenReminder]) -> None:
        """Queue the row changes between the reminders open before and after an event."""
        opened = patient.fold.opened
        for key, reminder in before.items():
            if opened.get(key) != reminder:
                self.ops.append(("clear", (position, id_text(reminder.id))))
        for key, reminder in opened.items():
            if before.get(key) != reminder:
                self.ops.append(("open", self._row(reminder, position)))
        follow_up = patient.follow_up()
        if follow_up == patient.follow_up_row:
            return
        fold = patient.fold
        old = patient.follow_up_row
        old_id = (
            None
            if old is None
            else id_text(reminder_id(fold.patient_id, old[1], FOLLOW_UP, f"cycle-{old[0]}"))
        )
        patient.follow_up_row = follow_up
        if follow_up is None:
            self.ops.append(("drop", (old_id,)))
            return
        reminder = fold.follow_up(follow_up[0])
        columns = patient.follow_up_columns(follow_up[0])
        if old_id == id_text(reminder.id):  # same cycle, other exams: what decides the current one
            latest = columns["last_exam_due"]
            refreshed = (
                due_text(columns["current_until"]),
                None if latest is None else due_text(latest),
                columns["detail"],
                old_id,
            )
            self.ops.append(("refresh", refreshed))
            return
        if old_id is not None:
            self.ops.append(("drop", (old_id,)))
        self.ops.append(("open", self._row(reminder, position, **columns)))

    @staticmethod
    def _row(
        reminder: OpenReminder,
        position: int,
        *,
        state: str = "open",
        cohort: int | None = None,
        fired_at: dt.datetime | None = None,
        current_until: dt.datetime | None = None,
        last_exam_due: dt.datetime | None = None,
        detail: str | None = None,
    ) -> tuple[Any, ...]:
        return (
            id_text(reminder.id),
            reminder.kind,
            id_text(reminder.trial_id),
            None if reminder.patient_id is None else id_text(reminder.patient_id),
            cohort,
            due_text(reminder.due_at),
            state,
            position,
            position if state == "issued" else None,
            None if fired_at is None else due_text(fired_at),
            None if current_until is None else due_text(current_until),
            None if last_exam_due is None else due_text(last_exam_due),
            detail,
        )

    # ----------------------------------------------------------------- batches

    def flush(self, tx: Transaction) -> None:
        self.rereviews.clear()
        self.append(tx, REMINDER_TRIALS, self.new_trials)
        self.new_trials.clear()
        self.append(tx, REMINDER_EXAM_WINDOWS, self.new_windows)
        self.new_windows.clear()
        # One statement per kind of change, in this order: a reminder is opened before it is
        # refreshed, cleared, issued or dropped, and one issued stays issued whatever else
        # happened to it in the batch (clear and drop touch open rows only).
        for kind in ("open", "refresh", "clear", "issue", "drop"):
            rows = [params for op, params in self.ops if op == kind]
            tx.executemany(self._sql[kind], rows)
        self.ops.clear()
        folds = []
        for patient_id in self.changed:
            patient = self.patients.data[patient_id]
            folds.append(
                (id_text(patient_id), dumps(patient.fold.as_data()), patient.follow_ups_issued)
            )
        tx.executemany(self._upsert_fold, folds)
        self.changed.clear()
        self.patients.trim()
        self.cycles.trim()
        self.windows.trim()
        self.src_cohorts.trim()
        self.src_ids.trim()

    def reset(self) -> None:
        self.patients.clear()
        self.cycles.clear()
        self.windows.clear()
        self.src_cohorts.clear()
        self.src_ids.clear()
        self.rereviews.clear()
        self.changed.clear()
        self.new_trials.clear()
        self.new_windows.clear()
        self.ops.clear()
