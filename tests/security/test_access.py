"""Who may do what: the README's access matrix against every route, other sites' patients
answered as unknown ids, admins recording no clinical data, and one ETag rule."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from httpx import Response

from adapters.application import DoseLedger
from adapters.application.api_keys import KEY_ROLES
from http_api import Api
from support import DAY0, enrolling

README = Path(__file__).resolve().parents[2] / "README.md"
OPEN = {"/healthz", "/readyz"}  # the routes of the schema that need no key
ZERO = "00000000-0000-0000-0000-000000000000"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`")
KEYS = {
    "investigator": ("investigator", "S01"),
    "other-site": ("investigator", "S02"),
    "src_member": ("src_member", None),
    "monitor": ("monitor", None),
    "auditor": ("auditor", None),
    "integration": ("integration", None),
    "admin": ("admin", None),
}


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n)).isoformat()


# A valid body for every route of a patient, so that a request reaches the route itself.
PATIENT_REQUESTS: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/patients/{patient_id}"): None,
    ("GET", "/patients/{patient_id}/timeline"): None,
    ("POST", "/patients/{patient_id}/eye-exams"): {
        "clinical_date": day(0),
        "bcva_right": "20/20",
        "bcva_left": "20/20",
    },
    ("POST", "/patients/{patient_id}/skin-exams"): {"clinical_date": day(0), "findings": "none"},
    ("POST", "/patients/{patient_id}/dosing"): {"clinical_date": day(1)},
    ("POST", "/patients/{patient_id}/doses"): {"clinical_date": day(2)},
    ("POST", "/patients/{patient_id}/missed-doses"): {"clinical_date": day(3), "reason": "ill"},
    ("POST", "/patients/{patient_id}/corrections"): {
        "fact": "dose",
        "ref": day(2),
        "clinical_date": day(4),
        "reason": "wrong day typed",
    },
    ("POST", "/patients/{patient_id}/entered-in-error"): {
        "fact": "dose",
        "ref": day(2),
        "reason": "recorded on the wrong patient",
    },
    ("POST", "/patients/{patient_id}/adverse-events"): {
        "term": "Fatigue",
        "grade": 1,
        "onset": day(4),
        "attribution": "possible",
    },
    ("POST", "/patients/{patient_id}/adverse-events/{ae_id}/grades"): {
        "clinical_date": day(5),
        "grade": 0,
    },
    ("POST", "/patients/{patient_id}/skin-assessments"): {
        "clinical_date": day(5),
        "bsa_percent": 5,
        "symptoms": "mild",
    },
    ("POST", "/patients/{patient_id}/dose-actions"): {
        "action": "hold",
        "clinical_date": day(5),
        "reason": "investigator's review",
    },
    ("POST", "/patients/{patient_id}/dlt-outcome"): {
        "outcome": "not_evaluable",
        "clinical_date": day(5),
        "reason": "withdrew consent",
    },
}


def readme_matrix() -> dict[tuple[str, str], dict[str, str]]:
    """The README's access matrix: {(method, path): {role: cell}}."""
    text = README.read_text()
    section = text.split("### Access matrix", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    header = next(line for line in section.splitlines() if line.startswith("| route |"))
    roles = [cell.strip() for cell in header.strip("|").split("|")][1:]
    matrix: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == len(roles) + 1, row
        for method, path in ROUTE.findall(cells[0]):
            assert (method, path) not in matrix, f"{method} {path} twice in the matrix"
            matrix[(method, path)] = dict(zip(roles, cells[1:], strict=True))
    return matrix


def operations(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI schema that needs a key."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, methods in paths.items()
        if path not in OPEN
        for method in methods
    ]


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    api = Api(ledger, KEYS)
    api.app.state.feed_stream_seconds = 0.1  # event streams end at once here
    return api


def _trial(api: Api) -> str:
    body = {"template_id": "defactinib-paclitaxel"}
    return str(api.call("POST", "/trials", "admin", 201, json=body).json()["id"])


def _patient(api: Api, tid: str) -> str:
    body = enrolling("S01")
    return str(
        api.call("POST", f"/trials/{tid}/patients", "investigator", 201, json=body).json()["id"]
    )


def test_the_readme_matrix_is_every_route_and_each_role_gets_what_it_says(api: Api) -> None:
    matrix = readme_matrix()
    assert set(KEY_ROLES) == set(next(iter(matrix.values())))
    assert sorted(matrix) == sorted(operations(api)), "the README's matrix is not the API's routes"
    for (method, path), cells in matrix.items():
        concrete = re.sub(r"{domain}", "AE", re.sub(r"{cohort}", "1", path))
        concrete = re.sub(r"{[^}]+}", ZERO, concrete)
        for role, cell in cells.items():
            assert cell in ("✓", "own site", "—"), (method, path, role, cell)
            response = api.client.request(
                method, concrete, json={}, headers={"Authorization": f"Bearer {api.keys[role]}"}
            )
            status = response.status_code
            if cell == "—":
                assert status == 403, (method, path, role, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert f"role {role} may not" in response.json()["detail"]
            else:
                assert status not in (401, 403), (method, path, role, response.text)


def _same_problem(theirs: Response, unknown: Response, pid: str, uid: str) -> None:
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers["content-type"] == unknown.headers["content-type"]
    assert theirs.json() == {k: str(v).replace(uid, pid) for k, v in unknown.json().items()} | {
        "status": 404
    }
    ignore = {"x-request-id", "content-length", "date"}
    assert {k for k in theirs.headers if k not in ignore} == {
        k for k in unknown.headers if k not in ignore
    }


def test_another_sites_patient_is_answered_as_an_unknown_id_on_every_route(
    api: Api, ledger: DoseLedger
) -> None:
    pid = _patient(api, _trial(api))
    paths = {(m, p) for m, p in operations(api) if "{patient_id}" in p}
    assert paths == set(PATIENT_REQUESTS), "a patient route without a request in this test"
    before = ledger.recorder.max_notification_id()
    for (method, path), body in PATIENT_REQUESTS.items():
        uid = str(uuid4())
        url = path.replace("{ae_id}", str(uuid4()))
        theirs = api.call(method, url.format(patient_id=pid), "other-site", 404, json=body)
        unknown = api.call(method, url.format(patient_id=uid), "other-site", 404, json=body)
        _same_problem(theirs, unknown, pid, uid)
        # and as any other key sees an unknown id
        assert (
            unknown.json()
            == api.call(method, url.format(patient_id=uid), "investigator", 404, json=body).json()
        )
    assert ledger.recorder.max_notification_id() == before
    # Their reminders are no more visible than an unknown patient's.
    for patient in (pid, str(uuid4())):
        seen = api.call("GET", f"/reminders?patient_id={patient}", "other-site", 200).json()
        assert seen["reminders"] == []
    own = api.call("GET", f"/reminders?patient_id={pid}", "investigator", 200).json()
    assert own["reminders"]
    # The site's own investigator reaches the patient.
    assert api.call("GET", f"/patients/{pid}", "investigator", 200).json()["site_id"] == "S01"


def test_an_investigator_enrols_only_at_its_own_site(api: Api, ledger: DoseLedger) -> None:
    tid = _trial(api)
    before = ledger.recorder.max_notification_id()
    refused = api.call("POST", f"/trials/{tid}/patients", "other-site", 403, json=enrolling("S01"))
    assert "S02" in refused.json()["detail"]
    assert ledger.recorder.max_notification_id() == before


def test_an_admin_records_no_clinical_data(api: Api, ledger: DoseLedger) -> None:
    tid = _trial(api)
    pid = _patient(api, tid)
    ae = uuid4()  # refused by role before any look-up
    before = ledger.recorder.max_notification_id()
    writes = {(m, p): b for (m, p), b in PATIENT_REQUESTS.items() if m == "POST"}
    writes[("POST", "/trials/{trial_id}/patients")] = enrolling("S01")
    clinical = {
        (m, p)
        for m, p in operations(api)
        if m != "GET" and (p.startswith("/patients/") or p == "/trials/{trial_id}/patients")
    }
    assert clinical == set(writes)
    for (method, path), body in writes.items():
        url = path.format(patient_id=pid, ae_id=ae, trial_id=tid)
        refused = api.call(method, url, "admin", 403, json=body).json()
        assert refused["status"] == 403 and "role admin may not" in refused["detail"]
    assert ledger.recorder.max_notification_id() == before
    # ...while it still manages trials and reads them.
    api.call("POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"})
    api.call("GET", f"/patients/{pid}", "admin", 200)


def test_enrolment_answers_with_the_trials_etag_and_honours_its_if_match(
    api: Api, ledger: DoseLedger
) -> None:
    tid = _trial(api)
    trial_tag = api.call("GET", f"/trials/{tid}", "monitor", 200).headers["etag"]
    enrolled = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "investigator",
        201,
        json=enrolling("S01"),
        headers={"If-Match": trial_tag},
    )
    now = api.call("GET", f"/trials/{tid}", "monitor", 200).headers["etag"]
    assert enrolled.headers["etag"] == now != trial_tag  # the trial's, after the enrolment
    patient = api.call("GET", enrolled.headers["location"], "investigator", 200)
    assert patient.headers["etag"] == f'"{enrolled.json()["version"]}"'
    # The answer's ETag is the next enrolment's If-Match; the one before it is stale.
    before = ledger.recorder.max_notification_id()
    stale = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "investigator",
        412,
        json=enrolling("S01"),
        headers={"If-Match": trial_tag},
    )
    assert stale.headers["etag"] == now
    assert ledger.recorder.max_notification_id() == before
    api.call(
        "POST",
        f"/trials/{tid}/patients",
        "investigator",
        201,
        json=enrolling("S01"),
        headers={"If-Match": stale.headers["etag"]},
    )


def test_a_412_carries_the_current_etag(api: Api, ledger: DoseLedger) -> None:
    pid = _patient(api, _trial(api))
    first = api.call("GET", f"/patients/{pid}", "investigator", 200).headers["etag"]
    exam = PATIENT_REQUESTS[("POST", "/patients/{patient_id}/eye-exams")]
    done = api.call(
        "POST",
        f"/patients/{pid}/eye-exams",
        "investigator",
        201,
        json=exam,
        headers={"If-Match": first},
    )
    assert (
        done.headers["etag"] == api.call("GET", f"/patients/{pid}", "monitor", 200).headers["etag"]
    )
    before = ledger.recorder.max_notification_id()
    stale = api.call(
        "POST",
        f"/patients/{pid}/skin-exams",
        "investigator",
        412,
        json=PATIENT_REQUESTS[("POST", "/patients/{patient_id}/skin-exams")],
        headers={"If-Match": first},
    )
    assert stale.headers["etag"] == done.headers["etag"]
    assert stale.json()["status"] == 412
    assert ledger.recorder.max_notification_id() == before
    api.call(
        "POST",
        f"/patients/{pid}/skin-exams",
        "investigator",
        201,
        json=PATIENT_REQUESTS[("POST", "/patients/{patient_id}/skin-exams")],
        headers={"If-Match": stale.headers["etag"]},
    )
