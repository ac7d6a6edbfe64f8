"""Firing reminders exactly once: each one issued is a ``Reminder`` aggregate in the ledger's store.

What is open comes from the domain's derivation (``domain.reminder_schedule``), kept per reminder in
the reminder index read model (``projections.models.reminder_index``), which a tick catches up
first: through the process's read-model runner (``adapters.read_models.LiveReadModels``), the
one that feeds every read model; a process without one (a CLI tick) opens one for the tick.
Firing a due reminder saves a ``Reminder`` whose id is the reminder's own deterministic id, as
its first (and only) event, ``Issued``. Of two processes firing the same reminder, one finds it
already recorded and skips it, or loses the optimistic-concurrency race on version 1
(``IntegrityError``, seen as ``ConcurrencyConflict``) and skips it: the store, not a lock or a
shared scheduler job store, decides. A reminder due while nothing ran fires on the next tick
after, once.

An expired CPK recovery window also has the patient's hold reviewed (``DoseLedger.review_hold``),
which records the protocol's discontinuation recommendation as a ``DoseRecommended`` event. The
review runs *before* the reminder is claimed and is idempotent (it records the recommendation
once, and the patient's version serialises concurrent reviews), so a process stopping between the
two leaves nothing lost: the next tick reviews again (a no-op) and issues the reminder.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import structlog

from adapters.application import DoseLedger
from adapters.clock import Clock
from adapters.read_models import LiveReadModels
from domain.errors import ConcurrencyConflict
from domain.reminder_schedule import OpenReminder, Reminder
from domain.site_time import local_date
from projections.models.reminder_queries import Row, as_reminder

log = structlog.get_logger("doseledger.reminders")
INDEX = ("reminder_index",)  # the read model the reminders are read from
REVIEW_ATTEMPTS = 3


class Reminders:
    """Open, due and issued reminders of one ledger's store, on an injectable clock.

    What is open or due is read from the reminder index (``projections.models.reminder_index``),
    caught up with the store first by ``read_models``, the process's runner (by default one
    of its own, opened on first use): one indexed query, however many patients the store
    holds. Close it (or use it as a context manager) to close a runner of its own.
    """

    def __init__(
        self,
        ledger: DoseLedger,
        clock: Clock | None = None,
        *,
        read_models: LiveReadModels | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock or ledger.clock
        self._shared = read_models
        self._own: LiveReadModels | None = None
        # The reminders the latest tick issued so far.
        self.fired: list[OpenReminder] = []

    @property
    def index(self) -> LiveReadModels:
        """The read models holding the reminder index: the process's, or its own."""
        if self._shared is not None:
            return self._shared
        if self._own is None:
            self._own = LiveReadModels(self.ledger)
        return self._own

    def close(self) -> None:
        """Close the runner of its own, if it opened one (the ledger stays open)."""
        if self._own is not None:
            self._own.close()
            self._own = None

    def __enter__(self) -> Reminders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """Every uncleared, unissued reminder in the store (due or not), as of ``at``."""
        at = self._instant(at)
        rows = self.index.read(lambda queries: queries.open_reminders(at), INDEX)
        found = [as_reminder(row, at) for row in rows]
        return sorted(found, key=lambda r: (r.due_at, str(r.id)))

    def due(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """What a tick at ``at`` would issue: open, due by then, not yet issued. Changes nothing."""
        at = self._instant(at)
        found = [as_reminder(row, at) for row in self.search(at)]
        return sorted(found, key=lambda r: (r.due_at, str(r.id)))

    def search(self, at: dt.datetime) -> list[Row]:
        """A tick's search: the index caught up, then its rows of what is due at ``at``."""
        return self.index.read(lambda queries: queries.due_reminders(at), INDEX)

    def issued(self, reminder_id: UUID) -> bool:
        """True when the reminder has been fired (by any process)."""
        return bool(self.ledger.recorder.select_events(reminder_id, limit=1))

    def tick(self, at: dt.datetime | None = None) -> list[OpenReminder]:
        """Fire every due reminder not yet issued; returns those this call issued."""
        at = self._instant(at)
        fired = self.fired = []  # kept: a tick cut short by the store going away says them
        for row in self.search(at):
            reminder = as_reminder(row, at)
            if reminder.kind == "cpk_recovery_window" and reminder.patient_id is not None:
                self._review_hold(reminder.patient_id, reminder.due_at)
            if self._claim(reminder, at):
                fired.append(reminder)
        return fired

    def _review_hold(self, patient_id: UUID, due_at: dt.datetime) -> None:
        """Record the discontinuation recommendation of an expired window (once, whoever wins).

        The review is as of the site's date when the window expired (the start of day 22 in
        the site's zone is still day 21 in UTC east of Greenwich).
        """
        zone = self.ledger.patient_aggregate(patient_id).site_time_zone
        as_of = local_date(due_at, zone)
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
            self.ledger.record(record)
        except ConcurrencyConflict:
            log.info("reminder already issued", reminder_id=str(reminder.id))
            return False
        return True

    def _instant(self, at: dt.datetime | None) -> dt.datetime:
        value = self.clock() if at is None else at
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
