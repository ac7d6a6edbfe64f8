"""Scheduled follow-ups (domain.md §7) derived from a trial's and its patients' events.

A reminder is an obligation that falls due at an instant unless something clears it first. It is
derived, never stored: replaying an aggregate's events gives the reminders its history opened
and has not yet cleared. (Firing one records a ``Reminder`` aggregate: see adapters.reminders.)

Identity: ``uuid5(aggregate id : version of the causing event : kind)``, plus ``:cycle-k`` for
the k-th ophthalmology follow-up, so every process derives the same id for the same obligation.

Due times, all UTC:
- a clinical date D stands for D 00:00 UTC;
- a window whose last permitted day is D (inclusive) falls due when it has passed, at
  (D + 1) 00:00 UTC. The CPK recovery window's last day is the hold's own ``deadline`` (hold +
  21 days, still in time on that day, as ``Patient.review_hold`` reads it); the DLT window's is
  ``Patient.dlt_window_last_day``; the referral's is onset + 7 days; an unresolved hold's is
  hold + ``HOLD_LIMIT_DAYS``;
- the k-th follow-up eye exam is due on the first day of cycle k + 1: first dose + k x cycle;
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
  instant asked about, else k = 1. The domain has no follow-up eye exam event yet, so nothing
  clears one except its cycle passing (the next k supersedes it) or treatment ending.
- ``ophthalmology_referral``: an AE in the CTCAE "Eye disorders" SOC (Blurred vision is one).
  No referral event exists yet either: it stays open until fired.
- ``dlt_window_end``: dosing started. Cleared by the DLT-window outcome.
- ``src_decision_due``: the open cohort became fully evaluated. Cleared by the SRC's signed
  decision on that cohort.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.ctcae import CtcaeCatalogue
from domain.patient import Patient
from domain.trial import Trial

ReminderKind = Literal[
    "cpk_recovery_window",
    "ophthalmology_baseline",
    "ophthalmology_follow_up",
    "ophthalmology_referral",
    "dlt_window_end",
    "src_decision_due",
    "hold_unresolved",
]
KINDS: tuple[ReminderKind, ...] = (
    "cpk_recovery_window",
    "ophthalmology_baseline",
    "ophthalmology_follow_up",
    "ophthalmology_referral",
    "dlt_window_end",
    "src_decision_due",
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
_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger/reminders")


@dataclass(frozen=True)
class OpenReminder:
    """One open follow-up: what, for whom, when it falls due."""

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


def reminder_id(aggregate_id: UUID, version: int, kind: ReminderKind, suffix: str = "") -> UUID:
    """The deterministic id of the reminder caused by one event."""
    name = f"{aggregate_id}:{version}:{kind}" + (f":{suffix}" if suffix else "")
    return uuid5(_NAMESPACE, name)


def start_of(day: dt.date) -> dt.datetime:
    """A clinical date as an instant: 00:00 UTC that day."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def after(last_day: dt.date) -> dt.datetime:
    """When a window whose last permitted day is ``last_day`` has passed."""
    return start_of(last_day + dt.timedelta(days=1))


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
) -> list[OpenReminder]:
    """The reminders a patient's history (its events, in order) leaves open at ``at``."""
    patient: Patient | None = None
    opened: dict[str, OpenReminder] = {}
    cpk_hold: tuple[UUID | None, dt.date] | None = None  # (AE, last day of the window)
    dosing_started_version = 0

    def open_(key: str, e: Any, kind: ReminderKind, due_at: dt.datetime) -> None:
        assert patient is not None
        ident = reminder_id(e.originator_id, e.originator_version, kind)
        opened[key] = OpenReminder(ident, kind, patient.trial_id, patient.id, due_at)

    for e in events:
        patient = e.mutate(patient)
        assert patient is not None
        if isinstance(e, Patient.Enrolled):
            open_("baseline", e, "ophthalmology_baseline", _utc(e.timestamp))
        elif isinstance(e, Patient.BaselineEyeExamRecorded):
            opened.pop("baseline", None)
        elif isinstance(e, Patient.DosingStarted):
            dosing_started_version = e.originator_version
            assert patient.dlt_window_last_day is not None
            open_("dlt", e, "dlt_window_end", after(patient.dlt_window_last_day))
        elif isinstance(e, Patient.DLTWindowClosed):
            opened.pop("dlt", None)
            if e.outcome == "not_evaluable":
                opened.pop("baseline", None)
        elif isinstance(e, Patient.AERecorded) and e.term in eye_terms:
            last_day = e.clinical_date + dt.timedelta(days=REFERRAL_WITHIN_DAYS)
            open_(f"referral:{e.ae_id}", e, "ophthalmology_referral", after(last_day))
        elif isinstance(e, Patient.DoseHeld):
            limit = e.clinical_date + dt.timedelta(days=HOLD_LIMIT_DAYS)
            open_("hold", e, "hold_unresolved", after(limit))
            ae = None if e.ae_id is None else patient.adverse_events.get(e.ae_id)
            if ae is not None and ae.term == CPK_TERM and ae.worst_grade >= 3:
                deadline = e.deadline or e.clinical_date + dt.timedelta(days=CPK_RECOVERY_DAYS)
                cpk_hold = (e.ae_id, deadline)
                open_("cpk", e, "cpk_recovery_window", after(deadline))
        elif isinstance(e, Patient.AEGraded | Patient.AEResolved):
            recovered = e.new_grade <= 1 if isinstance(e, Patient.AEGraded) else True
            if cpk_hold and cpk_hold[0] == e.ae_id and recovered and e.clinical_date <= cpk_hold[1]:
                opened.pop("cpk", None)
        elif isinstance(e, Patient.DoseResumed | Patient.TreatmentDiscontinued):
            opened.pop("cpk", None)
            opened.pop("hold", None)
            cpk_hold = None

    if patient is None:
        return []
    follow_up = _follow_up(patient, dosing_started_version, at, cycle_length_days)
    return [*opened.values(), *([follow_up] if follow_up else [])]


def _follow_up(
    patient: Patient, caused_by: int, at: dt.datetime, cycle_length_days: int
) -> OpenReminder | None:
    """The current cycle's follow-up eye exam while the patient is on treatment."""
    first = patient.first_dose_date
    if first is None or patient.all_discontinued or patient.dlt_outcome == "not_evaluable":
        return None
    elapsed = (_utc(at).date() - first).days
    k = max(1, elapsed // cycle_length_days)
    due = start_of(first + dt.timedelta(days=k * cycle_length_days))
    ident = reminder_id(patient.id, caused_by, "ophthalmology_follow_up", f"cycle-{k}")
    return OpenReminder(ident, "ophthalmology_follow_up", patient.trial_id, patient.id, due)


def trial_reminders(events: Iterable[Any]) -> list[OpenReminder]:
    """The SRC decisions a trial's history (its events, in order) leaves due."""
    trial: Trial | None = None
    opened: dict[int, OpenReminder] = {}
    seen: set[int] = set()
    for e in events:
        trial = e.mutate(trial)
        assert trial is not None
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
    return list(opened.values())
