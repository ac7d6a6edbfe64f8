"""Site zones, enrolment dates and CPK recovery by value over HTTP: 422 problems name the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from test_http_story import Api, day, ready

from adapters.application import DoseLedger


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    ledger.clock = lambda: dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)  # 1 March in California
    yield Api(ledger)


def trial(api: Api) -> str:
    body = {"template_id": "defactinib-avutometinib"}
    return str(api.call("POST", "/trials", "admin", 201, json=body).json()["id"])


def test_enrolment_records_the_site_zone_and_the_enrolment_date(api: Api) -> None:
    tid = trial(api)
    body = {"site_id": "S01", "site_time_zone": "America/Los_Angeles"}
    patient = api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=body).json()
    assert (patient["site_time_zone"], patient["enrolment_date"]) == (
        "America/Los_Angeles",
        "2026-03-01",
    )
    body = {"site_id": "S01", "enrolment_date": "2026-02-27"}
    patient = api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=body).json()
    shown = api.call("GET", f"/patients/{patient['id']}", "inv", 200).json()
    assert (shown["site_time_zone"], shown["enrolment_date"]) == (
        "America/Los_Angeles",
        "2026-02-27",
    )


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"site_time_zone": "Mars/Olympus_Mons"}, "site_time_zone", "IANA"),
        ({"enrolment_date": "2026-03-02"}, "enrolment_date", "2026-03-01"),
        ({"enrolment_date": "2024-02-29"}, "enrolment_date", "2024-03-01"),
        ({"enrolment_date": "2026-13-01"}, "enrolment_date", "date"),
    ],
)
def test_a_refused_enrolment_is_a_422_problem_naming_the_field_and_records_nothing(
    api: Api, ledger: DoseLedger, body: dict[str, str], field: str, fragment: str
) -> None:
    tid = trial(api)
    before = ledger.recorder.max_notification_id()
    body = {"site_id": "S01", "site_time_zone": "America/Los_Angeles", **body}
    problem = api.call("POST", f"/trials/{tid}/patients", "inv", 422, json=body).json()
    assert problem["field"].endswith(field) and fragment in problem["detail"]
    assert ledger.recorder.max_notification_id() == before


def test_another_zone_for_a_known_site_is_refused(api: Api) -> None:
    tid = trial(api)
    api.call("POST", f"/trials/{tid}/patients", "inv", 201, json={"site_id": "S01"})
    body = {"site_id": "S01", "site_time_zone": "Europe/Paris"}
    problem = api.call("POST", f"/trials/{tid}/patients", "inv", 422, json=body).json()
    assert (problem["field"], problem["rule"]) == ("site_time_zone", "site_time_zone_differs")


def test_cpk_recovery_entered_as_a_value_at_the_uln_resolves_the_ae(
    api: Api, ledger: DoseLedger
) -> None:
    ledger.clock = lambda: dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    tid = trial(api)
    pid = ready(api, tid)
    report = {
        "term": "CPK increased",
        "onset": day(5),
        "attribution": "possible",
        "measurement": {"value": 1500, "uln": 200},
    }
    recorded = api.call("POST", f"/patients/{pid}/adverse-events", "inv", 201, json=report).json()
    ae_id = recorded["adverse_event"]["ae_id"]
    api.call(
        "POST",
        f"/patients/{pid}/dose-actions",
        "inv",
        201,
        json={"action": "hold", "clinical_date": day(5), "ae_id": ae_id},
    )
    change = {"clinical_date": day(12), "measurement": {"value": 200, "uln": 200}}
    api.call("POST", f"/patients/{pid}/adverse-events/{ae_id}/grades", "inv", 201, json=change)
    (recovered,) = api.call("GET", f"/patients/{pid}", "inv", 200).json()["adverse_events"]
    assert (recovered["grade"], recovered["resolved_on"]) == (0, day(12))
    new = {**report, "measurement": {"value": 150, "uln": 200}}
    problem = api.call("POST", f"/patients/{pid}/adverse-events", "inv", 422, json=new).json()
    assert problem["field"] == "measurement"
