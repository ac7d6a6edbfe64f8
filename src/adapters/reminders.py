"""Firing reminders exactly once: each one issued is a ``Reminder`` aggregate in the ledger's store.

What is open comes from the domain (``domain.reminders``), derived from the events of every trial
and patient in the store. Firing a due reminder saves a ``Reminder`` whose id is the reminder's
own deterministic id, as its first (and only) event, ``Issued``. Of two processes firing the same
reminder, one finds it already recorded and skips it, or loses the optimistic-concurrency race
on version 1 (``IntegrityError``, seen as ``ConcurrencyConflict``) and skips it: the store, not a
lock or a shared scheduler job store, decides. A reminder due while nothing ran fires on the next
tick after, once.

An expired CPK recovery window also has the patient's hold reviewed (``DoseLedger.review_hold``),
which records the protocol's discontinuation recommendation as a ``DoseRecommended`` event. The
review runs *before* the reminder is claimed and is idempotent (it records the recommendation
once, and the patient's version serialises concurrent reviews), so a process stopping between the
two leaves nothing lost: the next tick reviews again (a no-op) and issues the reminder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.domain import Aggregate, event

from adapters.clock import Clock
from adapters.services import DoseLedger
from domain.errors import ConcurrencyConflict
from domain.reminders import (
    OpenReminder,
    eye_disorder_terms,
    patient_reminders,
    trial_reminders,
)
from domain.state_copy import clone_aggregate

log = structlog.get_logger("doseledger.reminders")
REVIEW_ATTEMPTS = 3


class Reminder(Aggregate):
    """A reminder that was issued (fired); its id is the reminder's deterministic id."""

    TOPIC = "doseledger:reminder"
    class_version = 1
    __deepcopy__ = clone_aggregate

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


class Reminders:
    """Open, due and issued reminders of one ledger's store, on an injectable clock."""

    def __init__(self, ledger: DoseLedger, clock: Clock | None = None) -> None:
        self.ledger = ledger
        self.clock = clock or ledger.clock
        self.eye_terms = eye_disorder_terms(ledger.catalogue)

    def open(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """Every uncleared reminder in the store (due or not), as of ``at`` (default: now)."""
        at = self._instant(at)
        return sorted(self._scan(at), key=lambda r: (r.due_at, r.kind, str(r.id)))

    def _scan(self, at: dt.datetime) -> Iterator[OpenReminder]:
        # Every trial and every patient, replayed from their events: fine for now. Issue 6's
        # benchmark (100,000 patients) needs an index instead: a read model of open reminders
        # (kind, due_at, ids) kept by the projections follower, queried by due_at.
        for trial_id in self.ledger.trial_ids():
            yield from trial_reminders(self._events(trial_id))
            trial = self.ledger.trial_aggregate(trial_id)
            cycle = trial.protocol.schedule.cycle_length_days
            for patient_id in trial.subjects.values():
                yield from patient_reminders(
                    self._events(patient_id),
                    at=at,
                    cycle_length_days=cycle,
                    eye_terms=self.eye_terms,
                )

    def _events(self, aggregate_id: UUID) -> Iterator[Any]:
        return iter(self.ledger.repository.event_store.get(aggregate_id))

    def issued(self, reminder_id: UUID) -> bool:
        """True when the reminder has been fired (by any process)."""
        return bool(self.ledger.recorder.select_events(reminder_id, limit=1))

    def due(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """What a tick at ``at`` would issue: open, due by then, not yet issued. Changes nothing."""
        at = self._instant(at)
        return [r for r in self.open(at) if r.due_at <= at and not self.issued(r.id)]

    def tick(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """Fire every due reminder not yet issued; returns those this call issued."""
        at = self._instant(at)
        fired = []
        for reminder in self.due(at):
            if reminder.kind == "cpk_recovery_window" and reminder.patient_id is not None:
                self._review_hold(reminder.patient_id, reminder.due_at.date())
            if self._claim(reminder, at):
                fired.append(reminder)
        return fired

    def _review_hold(self, patient_id: UUID, as_of: dt.date) -> None:
        """Record the discontinuation recommendation of an expired window (once, whoever wins)."""
        for attempt in range(1, REVIEW_ATTEMPTS + 1):
            try:
                self.ledger.review_hold(patient_id, as_of)
                return
            except ConcurrencyConflict:
                # Another process changed the patient (perhaps reviewing it): reload and retry.
                if attempt == REVIEW_ATTEMPTS:
                    raise

    def _claim(self, reminder: OpenReminder, at: dt.datetime) -> bool:
        record = Reminder(
            id=reminder.id,
            kind=reminder.kind,
            patient_id=reminder.patient_id,
            trial_id=reminder.trial_id,
            due_at=reminder.due_at,
            fired_at=at,
        )
        try:
            self.ledger._save(record)
        except ConcurrencyConflict:
            log.info("reminder already issued", reminder_id=str(reminder.id))
            return False
        return True

    def _instant(self, at: dt.datetime | None) -> dt.datetime:
        value = self.clock() if at is None else at
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
