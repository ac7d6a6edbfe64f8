"""Deviations, missed doses, corrections and re-reviews over HTTP: 201 with the patient's state,
refusals a 422 problem naming the rule, and a refused request records nothing."""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

from test_http_story import Api, api, day, ready  # noqa: F401  (the fixture)

from adapters.application import DoseLedger
from support import audit_export


def _trial(api: Api) -> str:  # noqa: F811
    body = {"template_id": "defactinib-avutometinib"}
    return str(api.call("POST", "/trials", "admin", 201, json=body).json()["id"])


def refused(
    api: Api,  # noqa: F811
    ledger: DoseLedger,
    path: str,
    body: dict[str, Any],
    key: str = "inv",
) -> Any:
    before = ledger.recorder.max_notification_id()
    problem = api.call("POST", path, key, 422, json=body).json()
    assert ledger.recorder.max_notification_id() == before
    return problem


def test_a_dose_against_an_open_requirement_is_a_deviation_with_a_reason(
    api: Api,  # noqa: F811
    ledger: DoseLedger,
) -> None:
    tid = _trial(api)
    pid = ready(api, tid)
    report = {"term": "CPK increased", "grade": 3, "onset": day(5), "attribution": "possible"}
    ae = api.call("POST", f"/patients/{pid}/adverse-events", "inv", 201, json=report).json()
    assert ae["requirements"][0]["action"] == "withhold"
    problem = refused(api, ledger, f"/patients/{pid}/doses", {"clinical_date": day(6)})
    assert problem["rule"] == "dose_against_requirement"
    body = {"clinical_date": day(6), "deviation_reason": "patient took the morning dose"}
    given = api.call("POST", f"/patients/{pid}/doses", "inv", 201, json=body).json()
    assert given["deviation"] is True and given["deviations"] == 1
    hold = {"action": "hold", "clinical_date": day(7)}
    api.call("POST", f"/patients/{pid}/dose-actions", "inv", 201, json=hold)
    for body in ({"clinical_date": day(8)}, {"clinical_date": day(8), "deviation_reason": "x"}):
        assert refused(api, ledger, f"/patients/{pid}/doses", body)["rule"] == "dose_withheld"
    export = audit_export(ledger, UUID(tid), "csv")
    rows = list(csv.DictReader(io.StringIO(export)))
    (deviation,) = [r for r in rows if r["event"] == "DoseDeviationRecorded"]
    assert deviation["reason"] == "patient took the morning dose"


def test_corrections_and_entries_in_error_follow_the_record(
    api: Api,  # noqa: F811
    ledger: DoseLedger,
) -> None:
    tid = _trial(api)
    pid = ready(api, tid)
    report = {"term": "CPK increased", "grade": 3, "onset": day(5), "attribution": "unrelated"}
    ae = api.call("POST", f"/patients/{pid}/adverse-events", "inv", 201, json=report).json()
    ae_id = ae["adverse_event"]["ae_id"]
    api.call(
        "POST",
        f"/patients/{pid}/dose-actions",
        "inv",
        201,
        json={"action": "hold", "clinical_date": day(5), "ae_id": ae_id},
    )
    path = f"/patients/{pid}/corrections"
    no_reason = {"fact": "adverse_event", "ref": ae_id, "grade": 2, "reason": ""}
    before = ledger.recorder.max_notification_id()
    api.call("POST", path, "inv", 422, json=no_reason)
    assert ledger.recorder.max_notification_id() == before
    same = {"fact": "adverse_event", "ref": ae_id, "grade": 3, "reason": "checked"}
    assert refused(api, ledger, path, same)["rule"] == "correction_changes_nothing"
    bad_ref = {"fact": "adverse_event", "ref": "not-an-id", "grade": 2, "reason": "typo"}
    assert refused(api, ledger, path, bad_ref)["field"] == "ref"
    body = {"fact": "adverse_event", "ref": ae_id, "grade": 2, "reason": "lab re-read: 4.8 x ULN"}
    corrected = api.call("POST", path, "inv", 201, json=body).json()
    assert corrected["recommendation"]["action"] == "continue"
    assert corrected["requirements"] == []  # the hold stands, but no AE asks for it any more
    assert corrected["adverse_events"][0]["grade"] == 2

    missed = {"clinical_date": day(3), "reason": "vomited the dose"}
    api.call("POST", f"/patients/{pid}/missed-doses", "inv", 201, json=missed)
    again = refused(api, ledger, f"/patients/{pid}/missed-doses", missed)
    assert again["rule"] == "missed_dose_already_recorded"
    error = {"fact": "missed_dose", "ref": day(4), "reason": "wrong day"}
    assert refused(api, ledger, f"/patients/{pid}/entered-in-error", error)["rule"] == (
        "fact_not_found"
    )
    error["ref"] = day(3)
    state = api.call("POST", f"/patients/{pid}/entered-in-error", "inv", 201, json=error).json()
    assert state["missed_doses"] == []
    assert [ae["entered_in_error"] for ae in state["adverse_events"]] == [False]
    ae_id = state["adverse_events"][0]["id"]
    wrong = {"fact": "adverse_event", "ref": ae_id, "reason": "another patient's lab"}
    state = api.call("POST", f"/patients/{pid}/entered-in-error", "inv", 201, json=wrong).json()
    # Kept for the record, and marked: a reader never takes it for an open AE.
    assert [ae["entered_in_error"] for ae in state["adverse_events"]] == [True]
    shown = api.call("GET", f"/patients/{pid}", "inv", 200).json()
    assert shown["adverse_events"][0]["entered_in_error"] is True

    export = audit_export(ledger, UUID(tid), "csv")
    (row,) = [r for r in csv.DictReader(io.StringIO(export)) if r["event"] == "FactCorrected"]
    assert row["change"] == "grade 3 → 2; worst_grade 3 → 2"
    assert row["reason"] == "lab re-read: 4.8 x ULN"


def test_a_re_review_of_an_unflagged_decision_is_refused(
    api: Api,  # noqa: F811
    ledger: DoseLedger,
) -> None:
    tid = _trial(api)
    body = {"outcome": "decision_stands", "reason": "looked again"}
    problem = refused(api, ledger, f"/trials/{tid}/decisions/1/reviews", body, key="src")
    assert problem["rule"] == "not_flagged_for_review"
