"""Scheduled follow-ups (domain.md §7) derived from a trial's and its patients' events.

A reminder is an obligation that falls due at an instant unless something clears it first. It is
derived, never stored: replaying an aggregate's events gives the reminders its history opened
and has not yet cleared. (Firing one records a ``Reminder`` aggregate: see
adapters.application.reminder_tick.)

Identity: ``uuid5(aggregate id : version of the causing event : kind)``, plus ``:cycle-k`` for
the k-th ophthalmology follow-up, so every process derives the same id for the same obligation.

Due times are instants (UTC) at the start of a day on the site's calendar (domain.md §6,
§7a): the patient's ``site_time_zone`` (on its ``Enrolled`` event; "UTC" for enrolments stored
before sites had zones):
- a clinical date D stands for D 00:00 in the site's zone;
- a window whose last permitted day is D (inclusive) falls due when it has passed, at the start
  of D + 1. The CPK recovery window's last day is the hold's own ``deadline`` (hold day 0 +
  21 days: still in time on day 21, due at the start of day 22); the DLT window's is day 28
  of a 28-day window (first dose = day 1; due at the start of day 29); the referral's is
  onset + 7 days; an unresolved hold's is hold + ``HOLD_LIMIT_DAYS``;
- the k-th follow-up eye exam is due at the start of the first day of cycle k + 1 (first
  dose + k x cycle);
- date arithmetic never overflows: a window past ``date.max`` falls due at ``datetime.max``;
- what has no clinical date is due when its cause was recorded (event ``timestamp``): the
  baseline eye exam (at enrolment) and the SRC decision (when the cohort became fully evaluated).

Kinds and what clears them:
- ``cpk_recovery_window``: a hold for a grade 3/4 CPK increased AE. Cleared when the hold ends
  (dose resumed, treatment discontinued) or the AE is graded <= 1 or resolved by the deadline.
- ``hold_unresolved``: any hold. Cleared when the hold ends.
- ``ophthalmology_baseline``: enrolment. Cleared by the baseline eye exam, or the patient
  leaving the study (not evaluable) without one.
- ``ophthalmology_follow_up``: while on treatment (dosing started, not all agents discontinued,
  not withdrawn), the follow-up of the current cycle only: the latest k >= 1 already due at the
  instant asked about, else k = 1, moved on past cycles that had their exam. An on-treatment
  eye exam (``Patient.EyeExamRecorded``) on study day d counts for cycle k when d is within
  the protocol's ``eye_exam_window_days`` (default 7) either side of the last day of cycle k
  (day k x cycle), the nearest such k; an exam on day 1 counts for no cycle. Treatment ending
  clears it.
- ``ophthalmology_referral``: an AE in the CTCAE "Eye disorders" SOC (Blurred vision is one).
  Cleared by an on-treatment eye exam on or after the AE's onset.
- ``dlt_window_end``: dosing started. Cleared by the DLT-window outcome.
- ``src_decision_due``: the open cohort became fully evaluated. Cleared by the SRC's signed
  decision on that cohort.
- ``src_rereview``: a correction changed the DLT count of a cohort the SRC had decided
  (``Trial.DecisionFlaggedForReview``). Cleared by the SRC's signed re-review.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.ctcae import CtcaeCatalogue
from domain.patient import Patient
from domain.site_time import DEFAULT_TIME_ZONE, local_date, plus_days, start_of_day
from domain.site_time import start_of_day_after as after
from domain.trial import Trial

ReminderKind = Literal[
    "cpk_recovery_window",
    "ophthalmology_baseline",
    "ophthalmology_follow_up",
    "ophthalmology_referral",
    "dlt_window_end",
    "src_decision_due",
    "src_rereview",
    "hold_unresolved",
]
KINDS: tuple[ReminderKind, ...] = (
    "cpk_recovery_window",
    "ophthalmology_baseline",
    "ophthalmology_follow_up",
    "ophthalmology_referral",
    "dlt_window_end",
    "src_decision_due",
    "src_rereview",
    "hold_unresolved",
)
CPK_TERM = "CPK increased"
EYE_DISORDERS_SOC = "Eye disorders"
CPK_RECOVERY_DAYS = 21
"""Used only for a CPK hold recorded without a deadline (departing from the rule set)."""
REFERRAL_WITHIN_DAYS = 7
"""**Protocol default** (domain.md §7): ophthalmology referral within 7 days of a visual AE."""
HOLD_LIMIT_DAYS = 28
"""**Protocol default**: a hold still open after 28 days (one 28-day cycle) needs review."""
EYE_EXAM_WINDOW_DAYS = 7
"""**Protocol default** (``Protocol.eye_exam_window_days``): a follow-up exam counts for cycle k
within 7 days either side of the last day of cycle k."""
_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger/reminders")


class OpenReminder(NamedTuple):
    """One open follow-up: what, for whom, when it falls due.

    A named tuple (immutable, compared by value): a tick may hold many thousands at once.
    """

    id: UUID
    kind: ReminderKind
    trial_id: UUID
    patient_id: UUID | None
    due_at: dt.datetime

    def as_record(self) -> dict[str, Any]:
        """Plain JSON data: id, kind, patient_id, trial_id, due_at (ISO 8601, UTC)."""
        return {
            "id": str(self.id),
            "kind": self.kind,
            "patient_id": None if self.patient_id is None else str(self.patient_id),
            "trial_id": str(self.trial_id),
            "due_at": self.due_at.isoformat(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OpenReminder:
        """The reminder ``as_record`` wrote."""
        patient = record["patient_id"]
        return cls(
            id=UUID(record["id"]),
            kind=record["kind"],
            trial_id=UUID(record["trial_id"]),
            patient_id=None if patient is None else UUID(patient),
            due_at=dt.datetime.fromisoformat(record["due_at"]),
        )


@functools.lru_cache(maxsize=8192)
def reminder_id(aggregate_id: UUID, version: int, kind: ReminderKind, suffix: str = "") -> UUID:
    """The deterministic id of the reminder caused by one event (remembered: the reminder
    index asks for a patient's current follow-up after each of the patient's events)."""
    name = f"{aggregate_id}:{version}:{kind}" + (f":{suffix}" if suffix else "")
    return uuid5(_NAMESPACE, name)


def start_of(day: dt.date, time_zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    """A clinical date as an instant: the start of that day in the site's zone, in UTC."""
    return start_of_day(day, time_zone)


def exam_cycle(study_day: int, cycle_days: int, window_days: int) -> int | None:
    """The follow-up cycle an on-treatment eye exam on ``study_day`` (day 1 = first dose)
    counts for: the k >= 1 whose last day (k x cycle) is nearest, if within ``window_days``
    either side; None on day 1 or earlier, or outside every window."""
    if study_day <= 1:
        return None
    below = study_day // cycle_days
    candidates = [k for k in (below, below + 1) if k >= 1]
    k = min(candidates, key=lambda c: (abs(study_day - c * cycle_days), c))
    return k if abs(study_day - k * cycle_days) <= window_days else None


def eye_disorder_terms(catalogue: CtcaeCatalogue) -> frozenset[str]:
    """CTCAE terms whose AE needs an ophthalmology referral."""
    return frozenset(t.term for t in catalogue if t.soc == EYE_DISORDERS_SOC)


def _utc(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(dt.UTC)


def patient_reminders(
    events: Iterable[Any],
    *,
    at: dt.datetime,
    cycle_length_days: int,
    eye_terms: Collection[str],
    eye_exam_window_days: int = EYE_EXAM_WINDOW_DAYS,
) -> list[OpenReminder]:
    """The reminders a patient's history (its events, in order) leaves open at ``at``."""
    fold: PatientFollowUps | None = None
    for e in events:
        if fold is None:
            if not isinstance(e, Patient.Enrolled):
                raise ValueError("a patient's history starts with its enrolment")
            fold = PatientFollowUps.enrolled(e, cycle_length_days, eye_exam_window_days)
        else:
            fold.apply(e, eye_terms)
    return [] if fold is None else fold.open_at(at)


@dataclass
class PatientFollowUps:
    """What a patient's events leave to follow up: a small fold over its events.

    It reads only the events' own data (no Patient aggregate), so a read model can keep one per
    patient (``as_data`` / ``from_data``, plain JSON) and apply each new event as it comes.
    ``opened`` holds the open reminders other than the follow-up eye exams, whose current one
    depends on the instant asked about (``follow_up_at``).
    """

    patient_id: UUID
    trial_id: UUID
    cycle_days: int
    dlt_window_days: int
    agents: list[str]
    opened: dict[str, OpenReminder] = field(default_factory=dict)
    discontinued: set[str] = field(default_factory=set)
    cpk_grades: dict[str, int] = field(default_factory=dict)  # CPK AEs: worst grade so far
    cpk_hold: tuple[str | None, dt.date] | None = None  # (AE, last day of the window)
    referral_onsets: dict[str, dt.date] = field(default_factory=dict)
    dosing_version: int = 0
    first_dose: dt.date | None = None
    not_evaluable: bool = False
    examined: set[int] = field(default_factory=set)  # follow-up cycles with an exam
    time_zone: str = DEFAULT_TIME_ZONE  # the site's: due times are starts of its days
    exam_window_days: int = EYE_EXAM_WINDOW_DAYS

    @classmethod
    def enrolled(
        cls, e: Any, cycle_days: int, exam_window_days: int = EYE_EXAM_WINDOW_DAYS
    ) -> PatientFollowUps:
        """The fold after a ``Patient.Enrolled`` event (the baseline eye exam is due)."""
        fold = cls(
            patient_id=e.originator_id,
            trial_id=e.trial_id,
            cycle_days=cycle_days,
            dlt_window_days=e.dlt_window_days,
            agents=[d["agent"] for d in e.doses],
            time_zone=getattr(e, "site_time_zone", DEFAULT_TIME_ZONE),
            exam_window_days=exam_window_days,
        )
        fold._open("baseline", e, "ophthalmology_baseline", _utc(e.timestamp))
        return fold

    def _open(self, key: str, e: Any, kind: ReminderKind, due_at: dt.datetime) -> None:
        ident = reminder_id(e.originator_id, e.originator_version, kind)
        self.opened[key] = OpenReminder(ident, kind, self.trial_id, self.patient_id, due_at)

    def apply(self, e: Any, eye_terms: Collection[str]) -> bool:
        """Apply one later event of the patient; False when the fold is left as it was (most
        AEs and grade changes: no CPK, no visual AE), so a read model can skip it."""
        opened = self.opened
        if isinstance(e, Patient.BaselineEyeExamRecorded):
            return opened.pop("baseline", None) is not None
        if isinstance(e, Patient.DosingStarted):
            self.dosing_version = e.originator_version
            self.first_dose = e.clinical_date
            last_day = plus_days(e.clinical_date, self.dlt_window_days - 1)
            self._open("dlt", e, "dlt_window_end", after(last_day, self.time_zone))
        elif isinstance(e, Patient.DLTWindowClosed):
            opened.pop("dlt", None)
            if e.outcome == "not_evaluable":
                self.not_evaluable = True
                opened.pop("baseline", None)
        elif isinstance(e, Patient.AERecorded):
            return self._ae_recorded(e, eye_terms)
        elif isinstance(e, Patient.EyeExamRecorded):
            self._eye_exam(e.clinical_date)
        elif isinstance(e, Patient.DoseHeld):
            self._held(e)
        elif isinstance(e, Patient.AEGraded | Patient.AEResolved):
            return self._regraded(e)
        elif isinstance(e, Patient.DoseResumed | Patient.TreatmentDiscontinued):
            if isinstance(e, Patient.TreatmentDiscontinued):
                self.discontinued.update(e.agents)
            opened.pop("cpk", None)
            opened.pop("hold", None)
            self.cpk_hold = None
        else:
            return False
        return True

    def _ae_recorded(self, e: Any, eye_terms: Collection[str]) -> bool:
        changed = False
        if e.term == CPK_TERM:
            self.cpk_grades[str(e.ae_id)] = e.grade
            changed = True
        if e.term in eye_terms:
            key = f"referral:{e.ae_id}"
            last_day = plus_days(e.clinical_date, REFERRAL_WITHIN_DAYS)
            self._open(key, e, "ophthalmology_referral", after(last_day, self.time_zone))
            self.referral_onsets[key] = e.clinical_date
            changed = True
        return changed

    def _eye_exam(self, on: dt.date) -> None:
        # An on-treatment exam counts for the cycle whose end it is near (exam_cycle), and is
        # the referral of every visual AE that began on or before it.
        if self.first_dose is not None:
            study_day = (on - self.first_dose).days + 1
            cycle = exam_cycle(study_day, self.cycle_days, self.exam_window_days)
            if cycle is not None:
                self.examined.add(cycle)
        for key, onset in list(self.referral_onsets.items()):
            if onset <= on:
                self.opened.pop(key, None)
                del self.referral_onsets[key]

    def _held(self, e: Any) -> None:
        limit = plus_days(e.clinical_date, HOLD_LIMIT_DAYS)
        self._open("hold", e, "hold_unresolved", after(limit, self.time_zone))
        ae = None if e.ae_id is None else str(e.ae_id)
        if ae is not None and self.cpk_grades.get(ae, 0) >= 3:
            deadline = e.deadline or plus_days(e.clinical_date, CPK_RECOVERY_DAYS)
            self.cpk_hold = (ae, deadline)
            self._open("cpk", e, "cpk_recovery_window", after(deadline, self.time_zone))

    def _regraded(self, e: Any) -> bool:
        ae = str(e.ae_id)
        recovered = True
        changed = False
        if isinstance(e, Patient.AEGraded):
            recovered = e.new_grade <= 1
            if ae in self.cpk_grades:
                worst = max(self.cpk_grades[ae], e.new_grade)
                changed = worst != self.cpk_grades[ae]
                self.cpk_grades[ae] = worst
        hold = self.cpk_hold
        if hold and hold[0] == ae and recovered and e.clinical_date <= hold[1]:
            changed = self.opened.pop("cpk", None) is not None or changed
        return changed

    @property
    def on_treatment(self) -> bool:
        """Dosing started, some agent not discontinued, not withdrawn (not evaluable)."""
        every_agent_stopped = bool(self.agents) and all(a in self.discontinued for a in self.agents)
        return self.first_dose is not None and not every_agent_stopped and not self.not_evaluable

    def follow_up(self, cycle: int) -> OpenReminder:
        """The follow-up eye exam of one cycle (k >= 1), due at the start of cycle k + 1."""
        assert self.first_dose is not None
        due = start_of(plus_days(self.first_dose, cycle * self.cycle_days), self.time_zone)
        ident = reminder_id(
            self.patient_id, self.dosing_version, "ophthalmology_follow_up", f"cycle-{cycle}"
        )
        return OpenReminder(ident, "ophthalmology_follow_up", self.trial_id, self.patient_id, due)

    def follow_up_cycle(self, due_at: dt.datetime) -> int:
        """The cycle whose follow-up falls due at ``due_at``."""
        assert self.first_dose is not None
        return (local_date(due_at, self.time_zone) - self.first_dose).days // self.cycle_days

    def follow_up_at(self, at: dt.datetime) -> OpenReminder | None:
        """The current cycle's follow-up at ``at``, while on treatment.

        The latest cycle k >= 1 already due at ``at`` (else k = 1), moved on past cycles that
        had their exam.
        """
        if not self.on_treatment:
            return None
        assert self.first_dose is not None
        elapsed = (local_date(at, self.time_zone) - self.first_dose).days
        return self.follow_up(self._unexamined(max(1, elapsed // self.cycle_days)))

    def next_follow_up(self, after_cycle: int) -> OpenReminder | None:
        """The first follow-up after cycle ``after_cycle`` still without an exam."""
        cycle = self.next_follow_up_cycle(after_cycle)
        return None if cycle is None else self.follow_up(cycle)

    def next_follow_up_cycle(self, after_cycle: int) -> int | None:
        """The cycle of ``next_follow_up`` (None when off treatment)."""
        return self._unexamined(after_cycle + 1) if self.on_treatment else None

    def _unexamined(self, cycle: int) -> int:
        while cycle in self.examined:
            cycle += 1
        return cycle

    def open_at(self, at: dt.datetime) -> list[OpenReminder]:
        """Every reminder open at ``at`` (due or not)."""
        follow_up = self.follow_up_at(at)
        return [*self.opened.values(), *([follow_up] if follow_up else [])]

    # ----------------------------------------------------------------- as plain data

    def as_data(self) -> dict[str, Any]:
        """The fold as JSON data (``from_data`` reads it back equal)."""
        return {
            "patient_id": str(self.patient_id),
            "trial_id": str(self.trial_id),
            "cycle_days": self.cycle_days,
            "dlt_window_days": self.dlt_window_days,
            "agents": self.agents,
            "opened": {k: r.as_record() for k, r in self.opened.items()},
            "discontinued": sorted(self.discontinued),
            "cpk_grades": self.cpk_grades,
            "cpk_hold": None
            if self.cpk_hold is None
            else [self.cpk_hold[0], self.cpk_hold[1].isoformat()],
            "referral_onsets": {k: d.isoformat() for k, d in self.referral_onsets.items()},
            "dosing_version": self.dosing_version,
            "first_dose": None if self.first_dose is None else self.first_dose.isoformat(),
            "not_evaluable": self.not_evaluable,
            "examined": sorted(self.examined),
            "time_zone": self.time_zone,
            "exam_window_days": self.exam_window_days,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PatientFollowUps:
        """The fold ``as_data`` wrote."""
        hold = data["cpk_hold"]
        first = data["first_dose"]
        return cls(
            patient_id=UUID(data["patient_id"]),
            trial_id=UUID(data["trial_id"]),
            cycle_days=data["cycle_days"],
            dlt_window_days=data["dlt_window_days"],
            agents=list(data["agents"]),
            opened={k: OpenReminder.from_record(r) for k, r in data["opened"].items()},
            discontinued=set(data["discontinued"]),
            cpk_grades=dict(data["cpk_grades"]),
            cpk_hold=None if hold is None else (hold[0], dt.date.fromisoformat(hold[1])),
            referral_onsets={
                k: dt.date.fromisoformat(d) for k, d in data["referral_onsets"].items()
            },
            dosing_version=data["dosing_version"],
            first_dose=None if first is None else dt.date.fromisoformat(first),
            not_evaluable=data["not_evaluable"],
            examined=set(data["examined"]),
            # Folds stored before sites had zones and the exam window was configurable.
            time_zone=data.get("time_zone", DEFAULT_TIME_ZONE),
            exam_window_days=data.get("exam_window_days", EYE_EXAM_WINDOW_DAYS),
        )


def trial_reminders(events: Iterable[Any]) -> list[OpenReminder]:
    """The SRC decisions a trial's history (its events, in order) leaves due."""
    trial: Trial | None = None
    opened: dict[int, OpenReminder] = {}
    rereviews: dict[int, OpenReminder] = {}
    seen: set[int] = set()
    for e in events:
        trial = e.mutate(trial)
        assert trial is not None
        if isinstance(e, Trial.DecisionFlaggedForReview):
            ident = reminder_id(e.originator_id, e.originator_version, "src_rereview")
            rereviews[e.cohort] = OpenReminder(
                ident, "src_rereview", trial.id, None, _utc(e.timestamp)
            )
        if isinstance(e, Trial.DecisionReviewed):
            rereviews.pop(e.cohort, None)
        if isinstance(e, Trial.SRCDecisionSigned):
            opened.pop(e.cohort, None)
        cohort = trial.open_cohort
        decided = any(d["cohort"] == cohort.number for d in trial.decisions)
        if (
            trial.status == "escalating"
            and cohort.fully_evaluated
            and cohort.number not in seen
            and not decided
        ):
            seen.add(cohort.number)
            ident = reminder_id(e.originator_id, e.originator_version, "src_decision_due")
            opened[cohort.number] = OpenReminder(
                ident, "src_decision_due", trial.id, None, _utc(e.timestamp)
            )
    return [*opened.values(), *rereviews.values()]


class Reminder(Aggregate):
    """A reminder that was issued (fired); its id is the reminder's deterministic id."""

    TOPIC = "doseledger:reminder"
    class_version = 1

    class Created(Aggregate.Created):
        TOPIC = "doseledger:reminder.Created"

    class Issued(Created):
        TOPIC = "doseledger:reminder.Issued"
        class_version = 1
        kind: str
        patient_id: UUID | None
        trial_id: UUID
        due_at: dt.datetime
        fired_at: dt.datetime

    class Event(Aggregate.Event):
        TOPIC = "doseledger:reminder.Event"

    @event(Issued)
    def __init__(
        self,
        id: UUID,
        kind: str,
        patient_id: UUID | None,
        trial_id: UUID,
        due_at: dt.datetime,
        fired_at: dt.datetime,
    ):
        self.kind = kind
        self.patient_id = patient_id
        self.trial_id = trial_id
        self.due_at = due_at
        self.fired_at = fired_at
