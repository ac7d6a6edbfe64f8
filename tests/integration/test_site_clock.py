"""Site time zones, enrolment dates and the site-local day (domain.md §6, §7a), on SQLite and
PostgreSQL: what is recorded, what is refused (nothing recorded), when reminders fall due."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_reminders
from domain.errors import CommandRefused, InvalidInput
from domain.protocol import Protocol, protocol_from_mapping, template
from domain.reminder_schedule import OpenReminder
from domain.site_time import start_of_day
from domain.trial import Trial
from support import ADMIN, INVESTIGATOR, ae, day

AVUTOMETINIB = "defactinib-avutometinib"  # 28-day cycles, 28-day DLT window
LOS_ANGELES = "America/Los_Angeles"
KIRITIMATI = "Pacific/Kiritimati"  # UTC+14
# 03:00 UTC on 2 March 2026 is still 1 March in California, and 2 March in Kiribati.
NOW = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)


def fixed(ledger: DoseLedger, instant: dt.datetime = NOW) -> DoseLedger:
    ledger.clock = lambda: instant
    return ledger


def with_default_zone(zone: str) -> Protocol:
    data: dict[str, Any] = template(AVUTOMETINIB).model_dump(mode="json")
    data["default_site_time_zone"] = zone
    return protocol_from_mapping(data)


def events(ledger: DoseLedger) -> int | None:
    return ledger.recorder.max_notification_id()


def dosed_at(ledger: DoseLedger, zone: str) -> UUID:
    """A patient of a site in ``zone``, enrolled on day 0, first dose on day 1 (2 March 2026)."""
    fixed(ledger, start_of_day(day(1), zone) + dt.timedelta(hours=12))
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    pid = ledger.enrol_patient(
        trial_id, "S01", INVESTIGATOR, site_time_zone=zone, enrolment_date=day(0)
    )
    ledger.record_baseline_eye_exam(pid, day(0), "20/20", "20/25", INVESTIGATOR)
    ledger.record_baseline_skin_exam(pid, day(0), "none", INVESTIGATOR)
    ledger.start_dosing(pid, day(1), INVESTIGATOR)
    fixed(ledger, start_of_day(day(200), zone))  # the site enters what follows later on
    return pid


def of(reminders: list[OpenReminder], kind: str, pid: UUID) -> list[OpenReminder]:
    return [r for r in reminders if r.kind == kind and r.patient_id == pid]


# ----------------------------------------------------------------- A. site time zones


def test_a_sites_zone_is_recorded_at_its_first_enrolment_and_another_is_refused(
    ledger: DoseLedger,
) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    first = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone=LOS_ANGELES)
    second = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR)  # the recorded zone
    ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone=LOS_ANGELES)  # the same

    trial = ledger.trial_aggregate(trial_id)
    assert trial.site_time_zone("S01") == LOS_ANGELES
    recorded = [e for e in ledger.events.get(trial_id) if isinstance(e, Trial.SiteTimeZoneRecorded)]
    assert [(e.site_id, e.time_zone, e.source) for e in recorded] == [
        ("S01", LOS_ANGELES, "enrolment")
    ]
    assert ledger.patient(first)["site_time_zone"] == LOS_ANGELES
    assert ledger.patient(second)["site_time_zone"] == LOS_ANGELES

    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone=LOS_ANGELES)
    before = events(ledger)
    with pytest.raises(CommandRefused) as refused:
        ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone="Europe/Paris")
    assert (refused.value.rule, refused.value.field) == ("site_time_zone_differs", "site_time_zone")
    assert events(ledger) == before


def test_a_site_enrolling_without_a_zone_takes_the_protocols_default(ledger: DoseLedger) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(with_default_zone(KIRITIMATI), ADMIN)
    pid = ledger.enrol_patient(trial_id, "S07", INVESTIGATOR)
    assert ledger.trial_aggregate(trial_id).site_time_zone("S07") == KIRITIMATI
    assert ledger.trial_aggregate(trial_id).site_time_zone("S99") == KIRITIMATI  # unused yet
    assert ledger.patient(pid)["site_time_zone"] == KIRITIMATI
    (recorded,) = [
        e for e in ledger.events.get(trial_id) if isinstance(e, Trial.SiteTimeZoneRecorded)
    ]
    assert (recorded.time_zone, recorded.source) == (KIRITIMATI, "protocol_default")
    plain = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    assert ledger.trial_aggregate(plain).site_time_zone("S01") == "UTC"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "utc+2"])
def test_an_unknown_time_zone_is_refused_naming_the_field_and_nothing_is_recorded(
    ledger: DoseLedger, zone: str
) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    before = events(ledger)
    with pytest.raises(InvalidInput) as refused:
        ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone=zone)
    assert refused.value.field == "site_time_zone"
    assert events(ledger) == before


def test_a_protocol_with_an_unknown_default_zone_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        with_default_zone("Atlantis/Capital")
    assert "default_site_time_zone" in refused.value.message


def test_site_today_is_the_sites_calendar_date_on_the_ledgers_clock(ledger: DoseLedger) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    ledger.enrol_patient(trial_id, "LA1", INVESTIGATOR, site_time_zone=LOS_ANGELES)
    ledger.enrol_patient(trial_id, "KI1", INVESTIGATOR, site_time_zone=KIRITIMATI)
    assert ledger.site_today(trial_id, "LA1") == dt.date(2026, 3, 1)
    assert ledger.site_today(trial_id, "KI1") == dt.date(2026, 3, 2)
    assert ledger.site_today(ledger.trial_aggregate(trial_id), "new") == dt.date(2026, 3, 2)


# ----------------------------------------------------------------- B. enrolment dates


def test_the_enrolment_date_defaults_to_the_sites_today_and_may_be_in_the_past(
    ledger: DoseLedger,
) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    today = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, site_time_zone=LOS_ANGELES)
    past = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=dt.date(2026, 2, 20))
    assert ledger.patient(today)["enrolment_date"] == "2026-03-01"  # not the UTC date
    assert ledger.patient_aggregate(past).enrolment_date == dt.date(2026, 2, 20)
    assert ledger.replay(trial_id)["patients"][1]["enrolment_date"] == "2026-02-20"


def test_an_enrolment_date_after_the_sites_today_is_refused_and_nothing_is_recorded(
    ledger: DoseLedger,
) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    before = events(ledger)
    # 2 March is today in UTC but tomorrow in California.
    with pytest.raises(CommandRefused) as refused:
        ledger.enrol_patient(
            trial_id,
            "S01",
            INVESTIGATOR,
            site_time_zone=LOS_ANGELES,
            enrolment_date=dt.date(2026, 3, 2),
        )
    assert (refused.value.rule, refused.value.field) == (
        "enrolment_date_in_future",
        "enrolment_date",
    )
    assert "2026-03-01" in refused.value.message
    assert events(ledger) == before
    assert ledger.trial_aggregate(trial_id).site_time_zones == {}


def test_an_enrolment_date_over_two_years_old_is_refused(ledger: DoseLedger) -> None:
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    oldest = dt.date(2026, 3, 2) - dt.timedelta(days=730)
    before = events(ledger)
    with pytest.raises(CommandRefused) as refused:
        ledger.enrol_patient(
            trial_id, "S01", INVESTIGATOR, enrolment_date=oldest - dt.timedelta(days=1)
        )
    assert (refused.value.rule, refused.value.field) == ("enrolment_date_too_old", "enrolment_date")
    assert oldest.isoformat() in refused.value.message
    assert events(ledger) == before
    pid = ledger.enrol_patient(trial_id, "S01", INVESTIGATOR, enrolment_date=oldest)
    assert ledger.patient_aggregate(pid).enrolment_date == oldest


# ----------------------------------------------------------------- C. the site-local day


def test_the_dlt_window_end_falls_due_at_the_start_of_day_29_in_the_sites_zone(
    ledger: DoseLedger,
) -> None:
    pid = dosed_at(ledger, LOS_ANGELES)
    reminders = build_reminders(ledger)
    (window,) = of(reminders.open(), "dlt_window_end", pid)
    start_of_day_29 = dt.datetime(2026, 3, 30, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert window.due_at == start_of_day_29  # 07:00 UTC (PDT), not 00:00 UTC
    late_on_day_28 = start_of_day_29 - dt.timedelta(seconds=1)
    assert of(reminders.due(late_on_day_28), "dlt_window_end", pid) == []
    assert of(reminders.tick(start_of_day_29), "dlt_window_end", pid) == [window]


def test_the_cpk_expiry_falls_due_at_the_start_of_day_22_site_local_and_flags_discontinuation(
    ledger: DoseLedger,
) -> None:
    pid = dosed_at(ledger, KIRITIMATI)
    ae_id = UUID(ae(ledger, pid, "CPK increased", 4, 5)["ae_id"])
    ledger.record_dose_action(pid, "hold", day(5), INVESTIGATOR, ae_id=ae_id)  # hold day 0
    reminders = build_reminders(ledger)
    (window,) = of(reminders.open(), "cpk_recovery_window", pid)
    day_22 = day(5) + dt.timedelta(days=22)
    assert window.due_at == start_of_day(day_22, KIRITIMATI)  # 10:00 UTC the day before
    assert window.due_at.date() == day_22 - dt.timedelta(days=1)
    assert (
        of(reminders.tick(window.due_at - dt.timedelta(seconds=1)), "cpk_recovery_window", pid)
        == []
    )
    (held,) = ledger.patient(pid)["requirements"]  # the hold followed the advice
    assert held["action"] == "withhold" and held["held_since"] == day(5).isoformat()
    assert of(reminders.tick(window.due_at), "cpk_recovery_window", pid) == [window]
    (required,) = ledger.patient(pid)["requirements"]
    assert (required["action"], required["rule"]) == ("discontinue", "cpk-not-recovered")


# ----------------------------------------------------------------- E. CPK recovery as a value


def test_cpk_recovery_entered_as_a_value_at_or_below_the_uln_resolves_the_ae(
    ledger: DoseLedger,
) -> None:
    pid = dosed_at(ledger, "UTC")
    ae_id = UUID(
        ae(ledger, pid, "CPK increased", None, 5, measurement={"value": 1500, "uln": 200})["ae_id"]
    )
    ledger.record_dose_action(pid, "hold", day(5), INVESTIGATOR, ae_id=ae_id)
    ledger.change_ae_grade(
        pid, ae_id, None, day(12), INVESTIGATOR, measurement={"value": 200, "uln": 200}
    )
    (recovered,) = ledger.patient(pid)["adverse_events"]
    assert (recovered["grade"], recovered["resolved_on"]) == (0, day(12).isoformat())
    reminders = build_reminders(ledger)
    assert of(reminders.open(), "cpk_recovery_window", pid) == []


def test_a_new_cpk_ae_with_a_value_at_or_below_the_uln_is_still_refused(
    ledger: DoseLedger,
) -> None:
    pid = dosed_at(ledger, "UTC")
    before = events(ledger)
    with pytest.raises(InvalidInput) as refused:
        ae(ledger, pid, "CPK increased", None, 5, measurement={"value": 150, "uln": 200})
    assert refused.value.field == "measurement"
    assert events(ledger) == before


# ----------------------------------------------------------------- F. no overflow on a stored date


def test_a_first_dose_stored_near_date_max_breaks_no_read_model_nor_the_tick(
    ledger: DoseLedger, database_url: str
) -> None:
    from adapters.bootstrap import build_read_models
    from domain.patient import Patient

    healthy = dosed_at(ledger, LOS_ANGELES)
    fixed(ledger)
    trial_id = ledger.register_trial(template(AVUTOMETINIB), ADMIN)
    broken = ledger.enrol_patient(trial_id, "S02", INVESTIGATOR, site_time_zone="Etc/GMT+12")
    ledger.record_baseline_eye_exam(broken, day(0), "20/20", "20/25", INVESTIGATOR)
    ledger.record_baseline_skin_exam(broken, day(0), "none", INVESTIGATOR)
    # As an old store may hold it: the event stored directly, past every guard.
    patient = ledger.patient_aggregate(broken)
    patient.trigger_event(
        Patient.DosingStarted, clinical_date=dt.date(9999, 12, 20), actor=INVESTIGATOR.as_record()
    )
    ledger.save(patient)

    reminders = build_reminders(ledger)
    fired = reminders.tick(dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    assert of(fired, "dlt_window_end", healthy)  # the other trial's reminders still fire
    (never,) = of(reminders.open(), "dlt_window_end", broken)
    assert never.due_at == dt.datetime.max.replace(tzinfo=dt.UTC)
    assert ledger.patient(broken)["dlt_window_last_day"] == "9999-12-31"

    projections = build_read_models(database_url)
    try:
        projections.catch_up()
        timeline = projections.queries.patient_timeline(healthy)
        assert any(row["kind"] == "dlt_window_opened" for row in timeline["entries"])
        assert projections.queries.patient_timeline(broken)["entries"]
        assert projections.queries.cohort_summary(trial_id)["cohorts"]
        assert projections.queries.reminders(at=NOW, patient_id=broken, kind="dlt_window_end")
    finally:
        projections.close()
    assert "9999-12-20" in ledger.sdtm(trial_id, "EX")
