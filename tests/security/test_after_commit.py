"""No 5xx after a commit: the skin assessment that resolved a rash (0 % BSA) once committed its
events and then failed to serialise a UUID (500, text/plain), and the released Idempotency-Key
let the client's retry record the assessment twice."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.application import DoseLedger
from http_api import Api
from support import DAY0, enrolling


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, {"admin": ("admin", None), "inv": ("investigator", "S01")})


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n - 1)).isoformat()


def test_a_skin_assessment_that_resolves_a_rash_answers_201_once_and_replays(api: Api) -> None:
    trial = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    )
    tid = trial.json()["id"]
    pid = api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=enrolling("S01")).json()[
        "id"
    ]
    exam = {"clinical_date": day(0), "bcva_right": "20/20", "bcva_left": "20/20"}
    api.call("POST", f"/patients/{pid}/eye-exams", "inv", 201, json=exam)
    skin = {"clinical_date": day(0), "findings": "none"}
    api.call("POST", f"/patients/{pid}/skin-exams", "inv", 201, json=skin)
    api.call("POST", f"/patients/{pid}/dosing", "inv", 201, json={"clinical_date": day(1)})
    rash = {"clinical_date": day(5), "location": "face", "bsa_percent": 8, "symptoms": "mild"}
    api.call("POST", f"/patients/{pid}/skin-assessments", "inv", 201, json=rash)

    cleared = {"clinical_date": day(9), "location": "", "bsa_percent": 0, "symptoms": "none"}
    headers = {"Idempotency-Key": "skin-visit-9"}
    before = api.ledger.recorder.max_notification_id()
    first = api.call(
        "POST", f"/patients/{pid}/skin-assessments", "inv", 201, json=cleared, headers=headers
    )
    assert first.headers["content-type"] == "application/json"
    assert first.json()["skin_assessment"]["grade"] == 0
    (episode,) = first.json()["adverse_events"]
    assert episode["resolved_on"] == day(9)
    recorded = api.ledger.recorder.max_notification_id()
    assert recorded is not None and before is not None and recorded > before
    retry = api.call(
        "POST",
        f"/patients/{pid}/skin-assessments",
        "inv",
        201,
        json=cleared,
        headers={"Idempotency-Key": "skin-visit-9"},
    )
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    assert api.ledger.recorder.max_notification_id() == recorded  # not recorded twice
