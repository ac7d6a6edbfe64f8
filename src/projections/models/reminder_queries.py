"""The reminder index's queries: open and due reminders, and the search behind GET /reminders.

Plain SQL reads of the tables ``projections.models.reminder_index`` keeps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from domain.reminder_schedule import OpenReminder, PatientFollowUps
from domain.site_time import DEFAULT_TIME_ZONE
from projections.models.base import loads
from projections.models.reminder_index import REMINDERS, due_text
from projections.store import Store, Transaction

Row = tuple[Any, ...]
"""A reminder row as queried: reminder_id, kind, trial_id, patient_id, due_at (text), whether
a follow-up's own cycle is over at the instant asked about (``moved``: the current cycle is a
later one), and the follow-up's detail (what decides its current cycle)."""
_MOVED = "current_until <= ?"
# A moved follow-up is due for sure unless a later cycle than its own had an exam (then the
# current cycle may be one past it, not due yet): only those need a look before a tick.
_UNSURE = f"{_MOVED} AND last_exam_due > due_at"
_COLUMNS = f"reminder_id, kind, trial_id, patient_id, due_at, {_MOVED} AS moved, detail"


def as_reminder(row: Row, at: dt.datetime) -> OpenReminder:
    """A queried row as the reminder it stands for at ``at`` (a follow-up's current cycle)."""
    if row[5]:
        return current_follow_up(row, at)
    patient = row[3]
    return OpenReminder(
        UUID(row[0]),
        row[1],
        UUID(row[2]),
        None if patient is None else UUID(patient),
        dt.datetime.fromisoformat(row[4]),
    )


def current_follow_up(row: Row, at: dt.datetime) -> OpenReminder:
    """A follow-up row whose own cycle is over at ``at``, as the cycle current then.

    The row is the next follow-up not issued nor examined; the current one is the latest cycle
    due at ``at`` (the domain's rule, ``PatientFollowUps.follow_up_at``), moved on past
    examined cycles: it may not be due yet.
    """
    data = loads(row[6])
    fold = PatientFollowUps(
        patient_id=UUID(row[3]),
        trial_id=UUID(row[2]),
        cycle_days=data["cycle_days"],
        dlt_window_days=0,
        agents=[],
        dosing_version=data["dosing_version"],
        first_dose=dt.date.fromisoformat(data["first_dose"]),
        examined=set(data["examined"]),
        time_zone=data.get("time_zone", DEFAULT_TIME_ZONE),  # rows kept before site zones
    )
    current = fold.follow_up_at(at)
    assert current is not None  # a follow-up row exists only while on treatment
    return current


def due_rows(tx: Transaction, store: Store, at: dt.datetime) -> list[Row]:
    """Open reminders due at ``at`` (not issued, not cleared): one indexed range query.

    Rows, not reminder objects: a tick makes one (``as_reminder``) for each reminder it fires.
    A follow-up whose own cycle is over stands for the current cycle's (``moved``); only one
    whose current cycle may have had its exam already is looked at here.
    """
    table = store.qualified(REMINDERS.name)
    stamp = due_text(at)
    rows = tx.fetchall(
        f"SELECT {_COLUMNS}, {_UNSURE} FROM {table} WHERE state = 'open' AND due_at <= ? "
        "ORDER BY due_at, reminder_id",
        (stamp, stamp, stamp),
    )
    if not any(row[7] for row in rows):
        return rows  # the common case: no Python work per row
    return [row for row in rows if not row[7] or current_follow_up(row, at).due_at <= at]


def open_rows(tx: Transaction, store: Store, at: dt.datetime) -> list[Row]:
    """Every open reminder at ``at`` (due or not), in due order of their rows."""
    table = store.qualified(REMINDERS.name)
    return tx.fetchall(
        f"SELECT {_COLUMNS} FROM {table} WHERE state = 'open' ORDER BY due_at, reminder_id",
        (due_text(at),),
    )


def find_reminders(
    tx: Transaction,
    store: Store,
    *,
    at: dt.datetime,
    trial_id: UUID | None = None,
    patient_id: UUID | None = None,
    kind: str | None = None,
    state: str | None = None,
    due_before: dt.datetime | None = None,
    site_id: str | None = None,
    after: tuple[dt.datetime, UUID] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Reminders by trial, patient, kind, state (``open``, ``due``, ``issued``, ``cleared``),
    due before an instant, or a site's patients; in the order shown (due time, then id), up to
    ``limit`` after the reminder keyed ``after`` (its due time as shown and its id).

    ``due`` means open and due at ``at``. An open follow-up eye exam shows the cycle current
    at ``at`` (the one a tick would issue), which may fall due later than its row says: those
    rows (``moved``, at most one per patient on treatment) are read whole and placed where they
    show; every other row shows as stored and is read a page at a time in SQL.
    """
    table = store.qualified(REMINDERS.name)
    where, params = [], []
    for column, value in (("trial_id", trial_id), ("patient_id", patient_id), ("kind", kind)):
        if value is not None:
            where.append(f"r.{column} = ?")
            params.append(str(value))
    if state is not None:
        where.append("r.state = ?")
        params.append("open" if state == "due" else state)
    if state == "due":
        where.append("r.due_at <= ?")
        params.append(due_text(at))
    if due_before is not None:
        where.append("r.due_at < ?")
        params.append(due_text(due_before))
    join = ""
    if site_id is not None:
        join = f" JOIN {store.qualified('patients')} p ON p.patient_id = r.patient_id"
        where.append("p.site_id = ?")
        params.append(site_id)
    moved = "COALESCE(r.state = 'open' AND r.current_until <= ?, FALSE)"
    select = (
        "SELECT r.reminder_id, r.kind, r.trial_id, r.patient_id, r.due_at, "
        f"{moved}, r.detail, r.state, r.fired_at FROM {table} r{join} WHERE "
    )
    stamp = due_text(at)
    shown_as_stored, stored_params = [*where, f"NOT {moved}"], [*params, stamp]
    if after is not None:
        shown_as_stored.append("(r.due_at > ? OR (r.due_at = ? AND r.reminder_id > ?))")
        stored_params += [due_text(after[0]), due_text(after[0]), str(after[1])]
    rows = tx.fetchall(
        select + " AND ".join(shown_as_stored) + " ORDER BY r.due_at, r.reminder_id LIMIT ?",
        [stamp, *stored_params, limit + 1],
    )
    rows += tx.fetchall(select + " AND ".join([*where, moved]), [stamp, *params, stamp])
    found = []
    for row in rows:
        reminder = as_reminder(row, at)
        if state == "due" and reminder.due_at > at:
            continue
        if due_before is not None and reminder.due_at >= due_before:
            continue
        if after is not None and shown_key(reminder) <= after:
            continue
        is_open = row[7] == "open"
        found.append(
            (
                shown_key(reminder),
                reminder.as_record()
                | {"state": "due" if is_open and reminder.due_at <= at else row[7]}
                | {"fired_at": row[8]},
            )
        )
    found.sort(key=lambda item: item[0])
    return [record for _, record in found[: limit + 1]]


def shown_key(reminder: OpenReminder) -> tuple[dt.datetime, UUID]:
    """Where a reminder stands in a list: its due time as shown, then its id."""
    return reminder.due_at.astimezone(dt.UTC), reminder.id
