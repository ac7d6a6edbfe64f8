"""A whole trial over HTTP, through the API other apps use, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring
from domain.actors import Actor
from support import DAY0, enrolling

OPERATOR = Actor(user_id="ops", role="admin")


class Api:
    """A TestClient and one key per role."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.client = TestClient(build_app(ledger))
        ring = build_key_ring(ledger)
        self.keys = {
            "admin": ring.issue("sponsor ops", "admin", None, OPERATOR)[0],
            "inv": ring.issue("site 1 investigator", "investigator", "S01", OPERATOR)[0],
            "inv2": ring.issue("site 2 investigator", "investigator", "S02", OPERATOR)[0],
            "src": ring.issue("SRC chair", "src_member", None, OPERATOR)[0],
            "monitor": ring.issue("CRA", "monitor", None, OPERATOR)[0],
        }

    def call(self, method: str, path: str, key: str | None, expect: int, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {self.keys[key]}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    yield Api(ledger)


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n - 1)).isoformat()


def ready(api: Api, trial_id: str, site: str = "S01", key: str = "inv") -> str:
    pid = api.call("POST", f"/trials/{trial_id}/patients", key, 201, json=enrolling(site)).json()[
        "id"
    ]
    api.call(
        "POST",
        f"/patients/{pid}/eye-exams",
        key,
        201,
        json={"clinical_date": day(0), "bcva_right": "20/20", "bcva_left": "20/25"},
    )
    api.call(
        "POST",
        f"/patients/{pid}/skin-exams",
        key,
        201,
        json={"clinical_date": day(0), "findings": "none"},
    )
    api.call("POST", f"/patients/{pid}/dosing", key, 201, json={"clinical_date": day(1)})
    return str(pid)


def complete(api: Api, pid: str, key: str = "inv") -> None:
    api.call(
        "POST",
        f"/patients/{pid}/dlt-outcome",
        key,
        201,
        json={"outcome": "no_dlt", "clinical_date": day(28), "doses_taken_fraction": 1.0},
    )


def test_trial_to_mtd_with_a_hold_and_a_resumption(api: Api) -> None:
    trial = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()
    tid = trial["id"]
    # Cohort 1: one patient has CPK grade 3 (a DLT), is held, recovers and resumes.
    first = ready(api, tid)
    recorded = api.call(
        "POST",
        f"/patients/{first}/adverse-events",
        "inv",
        201,
        json={
            "term": "CPK increased",
            "onset": day(10),
            "attribution": "possible",
            "measurement": {"value": 1500, "uln": 200},
        },
    ).json()["adverse_event"]
    assert recorded["recommendation"]["action"] == "withhold"
    assert recorded["dlt"]["verdict"] == "dlt"
    etag = api.call("GET", f"/patients/{first}", "inv", 200).headers["etag"]
    api.call(
        "POST",
        f"/patients/{first}/dose-actions",
        "inv",
        201,
        json={"action": "hold", "clinical_date": day(10), "ae_id": recorded["ae_id"]},
        headers={"If-Match": etag},
    )
    api.call(
        "POST",
        f"/patients/{first}/dose-actions",
        "inv",
        412,
        json={"action": "resume", "clinical_date": day(20)},
        headers={"If-Match": etag},
    )
    resume = api.call(
        "POST",
        f"/patients/{first}/adverse-events/{recorded['ae_id']}/grades",
        "inv",
        201,
        json={"clinical_date": day(18), "grade": 1},
    ).json()
    assert resume["recommendation"]["action"] == "resume"
    state = api.call(
        "POST",
        f"/patients/{first}/dose-actions",
        "inv",
        201,
        json={"action": "resume", "clinical_date": day(19)},
    ).json()
    assert state["dosing"] == "on treatment"
    for _ in range(2):
        complete(api, ready(api, tid))
    trial = api.call("GET", f"/trials/{tid}", "monitor", 200).json()
    assert trial["recommendation"]["action"] == "expand"
    api.call(
        "POST", f"/trials/{tid}/decisions", "inv", 403, json={"cohort": 1, "decision": "expand"}
    )
    api.call(
        "POST", f"/trials/{tid}/decisions", "src", 201, json={"cohort": 1, "decision": "expand"}
    )
    for _ in range(3):
        complete(api, ready(api, tid, "S02", "inv2"), "inv2")
    api.call(
        "POST", f"/trials/{tid}/decisions", "src", 201, json={"cohort": 2, "decision": "escalate"}
    )
    for _ in range(3):
        complete(api, ready(api, tid))
    final = api.call(
        "POST",
        f"/trials/{tid}/decisions",
        "src",
        201,
        json={"cohort": 3, "decision": "declare_mtd", "mtd_level": 2},
    ).json()
    assert (final["status"], final["mtd"]) == ("mtd_declared", 2)
    assert final["outcomes"] == "1TNN 1NNN 2NNN"


def test_problems_name_the_field_and_nothing_is_recorded(api: Api, ledger: DoseLedger) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    pid = ready(api, tid)
    before = ledger.recorder.max_notification_id()
    bad = api.call(
        "POST",
        f"/patients/{pid}/adverse-events",
        "inv",
        422,
        json={"term": "Nausea", "grade": 4, "onset": day(3), "attribution": "possible"},
    ).json()
    assert bad["field"] == "grade" and "allowed grades: 1, 2, 3" in bad["detail"]
    bad = api.call(
        "POST",
        f"/patients/{pid}/adverse-events",
        "inv",
        422,
        json={"term": "Nausea", "grade": 2, "onset": 20260301, "attribution": "possible"},
    ).json()
    assert bad["field"] == "onset"
    refused = api.call(
        "POST",
        f"/patients/{pid}/dose-actions",
        "inv",
        422,
        json={"action": "hold", "clinical_date": day(3)},
    ).json()
    assert refused["rule"] == "reason_required"
    api.call("POST", f"/patients/{pid}/doses", "inv2", 404, json={"clinical_date": day(2)})
    api.call("GET", f"/patients/{pid}", "inv2", 404)  # as if unknown
    api.call("GET", f"/patients/{pid}", None, 401)
    api.call("GET", "/patients/00000000-0000-0000-0000-000000000000", "monitor", 404)
    assert ledger.recorder.max_notification_id() == before
    response = api.call("GET", "/healthz", None, 200)
    assert response.headers["x-request-id"]
    echoed = api.call("GET", "/readyz", None, 200, headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


def test_a_key_revoked_after_use_is_refused_and_records_nothing(
    api: Api, ledger: DoseLedger
) -> None:
    # The service remembers keys it verified; a revocation recorded elsewhere (another
    # KeyRing, as the CLI does in another process) must still stop the next request.
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    pid = ready(api, tid)
    api.keys["late"], late = build_key_ring(ledger).issue(
        "leaving", "investigator", "S01", OPERATOR
    )
    api.call("POST", f"/patients/{pid}/doses", "late", 201, json={"clinical_date": day(2)})
    api.call("GET", f"/patients/{pid}", "late", 200)
    build_key_ring(ledger).revoke(late["id"], "left the site", OPERATOR)
    before = ledger.recorder.max_notification_id()
    api.call("POST", f"/patients/{pid}/doses", "late", 401, json={"clinical_date": day(3)})
    api.call(
        "POST",
        f"/patients/{pid}/adverse-events",
        "late",
        401,
        json={"term": "Fatigue", "grade": 1, "onset": day(3), "attribution": "unlikely"},
    )
    api.call("GET", f"/patients/{pid}", "late", 401)
    assert ledger.recorder.max_notification_id() == before


def test_idempotency_key_replays_and_refuses_another_body(api: Api, ledger: DoseLedger) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    headers = {"Idempotency-Key": "enrol-0001"}
    first = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv",
        201,
        json=enrolling("S01"),
        headers=dict(headers),
    )
    events = ledger.recorder.max_notification_id()
    again = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv",
        201,
        json=enrolling("S01"),
        headers=dict(headers),
    )
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert ledger.recorder.max_notification_id() == events
    other = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv",
        422,
        json=enrolling("S01", subject_id="S01-900"),
        headers=dict(headers),
    )
    assert other.json()["field"] == "Idempotency-Key"
    assert ledger.recorder.max_notification_id() == events
    # The same key from another API key is another request.
    api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv2",
        201,
        json=enrolling("S02"),
        headers=dict(headers),
    )


def test_same_idempotency_key_in_parallel_records_one_set_of_events(
    api: Api, ledger: DoseLedger
) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    before = ledger.trial(UUID(tid))["version"]

    def enrol() -> Any:
        return api.client.post(
            f"/trials/{tid}/patients",
            json=enrolling("S01"),
            headers={"Authorization": f"Bearer {api.keys['inv']}", "Idempotency-Key": "parallel-1"},
        )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: enrol(), range(4)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    # One enrolment: the site's first, so its time zone is recorded with it (two trial events).
    assert ledger.trial(UUID(tid))["version"] == before + 2


def test_two_writers_on_one_patient_one_wins(api: Api, ledger: DoseLedger) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    pid = ready(api, tid)
    etag = api.call("GET", f"/patients/{pid}", "inv", 200).headers["etag"]
    before = ledger.patient(UUID(pid))["version"]

    def dose(n: int) -> Any:
        return api.client.post(
            f"/patients/{pid}/doses",
            json={"clinical_date": day(2 + n)},
            headers={"Authorization": f"Bearer {api.keys['inv']}", "If-Match": etag},
        )

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(dose, range(2)))
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 201 and codes[1] in (409, 412), codes
    assert ledger.patient(UUID(pid))["version"] == before + 1


def test_read_models_exports_and_replay_over_http(api: Api, ledger: DoseLedger) -> None:
    ring = build_key_ring(ledger)
    api.keys["auditor"] = ring.issue("inspector", "auditor", None, OPERATOR)[0]
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    pid = ready(api, tid)
    recorded = api.call(
        "POST",
        f"/patients/{pid}/adverse-events",
        "inv",
        201,
        json={"term": "Fatigue", "grade": 2, "onset": day(5), "attribution": "possible"},
    ).json()["adverse_event"]
    api.call(
        "POST",
        f"/patients/{pid}/adverse-events/{recorded['ae_id']}/grades",
        "inv",
        201,
        json={"clinical_date": day(9), "grade": 3, "reason": "worse"},
    )
    cohorts = api.call("GET", f"/trials/{tid}/cohorts", "monitor", 200).json()
    assert cohorts == api.call("GET", f"/trials/{tid}/cohorts", "auditor", 200).json()
    safety = api.call("GET", f"/trials/{tid}/safety-table", "monitor", 200).json()
    assert "Fatigue" in str(safety)
    timeline = api.call("GET", f"/patients/{pid}/timeline", "inv", 200).json()
    assert timeline and "Fatigue" in str(timeline)
    api.call("GET", f"/patients/{pid}/timeline", "inv2", 404)
    api.call("GET", f"/trials/{tid}/cohorts", "inv", 403)
    audit = api.call("GET", f"/trials/{tid}/audit", "auditor", 200).json()["rows"]
    assert any(row["event"] == "AEGraded" and row["change"] == "grade 2 → 3" for row in audit)
    api.call("GET", f"/trials/{tid}/exports/audit?format=csv", "monitor", 403)
    csv_text = api.call("GET", f"/trials/{tid}/exports/audit?format=csv", "auditor", 200)
    assert csv_text.headers["content-type"].startswith("text/csv")
    html = api.call("GET", f"/trials/{tid}/exports/audit?format=html", "auditor", 200).text
    assert "<svg" in html
    ae = api.call("GET", f"/trials/{tid}/exports/sdtm/AE", "auditor", 200).text
    assert "Fatigue" in ae and ae.startswith("STUDYID,DOMAIN,USUBJID")
    api.call("GET", f"/trials/{tid}/exports/sdtm/LB", "auditor", 422)
    replay = api.call("GET", f"/trials/{tid}/replay", "monitor", 200).json()
    assert replay["trial"]["id"] == tid and len(replay["patients"]) == 1
    past = api.call("GET", f"/trials/{tid}/replay?as_of=2000-01-01T00:00:00Z", "monitor", 404)
    assert "not yet registered" in past.json()["detail"]
    ready_now = api.call("GET", "/readyz", None, 200).json()
    assert ready_now["read_model_lag"] == 0


def test_the_app_can_be_started_again_after_a_shutdown(ledger: DoseLedger) -> None:
    app = build_app(ledger)
    secret = build_key_ring(ledger).issue("ops", "monitor", None, OPERATOR)[0]
    for _ in range(2):
        with TestClient(app) as client:  # runs the lifespan: read models opened, then closed
            response = client.get("/readyz")
            assert response.status_code == 200, response.text
            listed = client.get("/trials", headers={"Authorization": f"Bearer {secret}"}).json()
            assert listed == {"trials": [], "next": None}


def test_an_instant_is_iso_8601_not_a_number(api: Api) -> None:
    """Lax parsing would take as_of=-0.3 as a Unix time (found by schemathesis)."""
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"}
    ).json()["id"]
    for path in (f"/trials/{tid}/replay", f"/trials/{tid}/audit"):
        problem = api.call("GET", path, "monitor", 422, params={"as_of": "-0.3"}).json()
        assert problem["field"] == "as_of", problem
        api.call("GET", path, "monitor", 200, params={"as_of": "2100-01-01T00:00:00Z"})
