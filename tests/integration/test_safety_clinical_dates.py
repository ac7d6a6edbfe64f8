"""Patient safety, story 4: clinical dates a clinic can have (domain.md §7a).

A clinical date is never after the site's today (the ledger's clock), an enrolment is never
in the future, and baseline exams precede enrolment by at most the 28-day screening window.
Refused dates record nothing. On the old code (0183fb4) no clinical date was checked against
today or the enrolment (which had no clinical date at all): a first dose dated 9999-12-20 was
recorded, and so was a "no DLT" dated after today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from domain.errors import CommandRefused
from domain.protocol import template
from support import ADMIN, DAY0, INVESTIGATOR, ae, day, dosing

AVUTOMETINIB = template("defactinib-avutometinib")
SITE_TODAY = day(20)
"""The site's today in these tests: day 20 of the first patient's DLT window."""


@pytest.fixture
def clocked(database_url: str) -> Iterator[DoseLedger]:
    """A DoseLedger whose clock reads noon UTC on SITE_TODAY (on SQLite and PostgreSQL)."""
    noon = dt.datetime.combine(SITE_TODAY, dt.time(12), tzinfo=dt.UTC)
    app = build_ledger(env=persistence_env(database_url), clock=lambda: noon)
    try:
        yield app
    finally:
        app.close()


def refused(
    ledger: DoseLedger, rule: str, field: str | None, command: Any, *args: Any, **kw: Any
) -> None:
    """The command is refused with ``rule`` naming ``field`` and appends nothing."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(CommandRefused) as caught:
        command(*args, **kw)
    assert (caught.value.rule, caught.value.field) == (rule, field)
    assert ledger.recorder.max_notification_id() == before


def enrolled(ledger: DoseLedger) -> tuple[UUID, UUID]:
    trial_id = ledger.register_trial(AVUTOMETINIB, ADMIN)
    return trial_id, ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=DAY0)


def test_no_dlt_dated_after_the_sites_today_is_refused(clocked: DoseLedger) -> None:
    trial_id, (pid,) = dosing(clocked, AVUTOMETINIB)
    assert clocked.site_today(trial_id, "S01") == SITE_TODAY
    refused(
        clocked,
        "date_in_future",
        "clinical_date",
        clocked.record_dlt_window_outcome,
        pid,
        "no_dlt",
        day(28),
        INVESTIGATOR,
    )
    assert clocked.patient(pid)["dlt_outcome"] is None
    assert clocked.trial(trial_id)["cohorts"][0]["evaluable"] == 0
    # Nor anything else dated tomorrow.
    tomorrow = SITE_TODAY + dt.timedelta(days=1)
    refused(
        clocked,
        "date_in_future",
        "clinical_date",
        clocked.administer_dose,
        pid,
        tomorrow,
        INVESTIGATOR,
    )
    refused(
        clocked,
        "date_in_future",
        "clinical_date",
        clocked.record_missed_dose,
        pid,
        tomorrow,
        INVESTIGATOR,
    )
    refused(clocked, "date_in_future", "clinical_date", ae, clocked, pid, "Fatigue", 2, 21)
    refused(
        clocked,
        "date_in_future",
        "clinical_date",
        clocked.record_dose_action,
        pid,
        "hold",
        tomorrow,
        INVESTIGATOR,
        reason="planned surgery",
    )
    clocked.administer_dose(pid, SITE_TODAY, INVESTIGATOR)  # today itself is not the future


def test_a_first_dose_dated_9999_12_20_is_refused_and_records_nothing(ledger: DoseLedger) -> None:
    _, pid = enrolled(ledger)
    ledger.record_baseline_eye_exam(pid, DAY0, "20/20", "20/20", INVESTIGATOR)
    ledger.record_baseline_skin_exam(pid, DAY0, "none", INVESTIGATOR)
    far = dt.date(9999, 12, 20)
    refused(ledger, "date_in_future", "clinical_date", ledger.start_dosing, pid, far, INVESTIGATOR)
    patient = ledger.patient(pid)
    assert (patient["first_dose"], patient["dlt_window_last_day"]) == (None, None)
    assert patient["status"] == "ready to dose"


def test_an_enrolment_dated_in_the_future_is_refused(clocked: DoseLedger) -> None:
    trial_id = clocked.register_trial(AVUTOMETINIB, ADMIN)
    tomorrow = SITE_TODAY + dt.timedelta(days=1)
    refused(
        clocked,
        "enrolment_date_in_future",
        "enrolment_date",
        clocked.enrol_patient,
        trial_id,
        "S01",
        INVESTIGATOR,
        enrolment_date=tomorrow,
    )
    assert clocked.trial(trial_id)["cohorts"][0]["enrolled"] == 0
    pid = clocked.enrol_patient(trial_id, "S01", INVESTIGATOR)  # defaults to the site's today
    assert clocked.patient(pid)["enrolment_date"] == SITE_TODAY.isoformat()


@pytest.mark.parametrize("exam", ["eye", "skin"])
def test_a_baseline_exam_more_than_28_days_before_enrolment_is_refused(
    ledger: DoseLedger, exam: str
) -> None:
    _, pid = enrolled(ledger)

    def record(on: dt.date) -> None:
        if exam == "eye":
            ledger.record_baseline_eye_exam(pid, on, "20/20", "20/20", INVESTIGATOR)
        else:
            ledger.record_baseline_skin_exam(pid, on, "none", INVESTIGATOR)

    refused(ledger, "date_before_screening", "clinical_date", record, DAY0 - dt.timedelta(days=29))
    assert ledger.patient(pid)[f"baseline_{exam}_exam"] is None
    record(DAY0 - dt.timedelta(days=28))  # the screening window's first day
    assert (
        ledger.patient(pid)[f"baseline_{exam}_exam"]["date"]
        == (DAY0 - dt.timedelta(days=28)).isoformat()
    )
