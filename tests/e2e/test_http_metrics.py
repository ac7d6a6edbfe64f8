"""GET /metrics: Prometheus text with route templates, events appended and projection lag."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring
from adapters.demo import record_demo_trial
from domain.actors import Actor
from support import enrolling

OPERATOR = Actor(user_id="ops", role="admin")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROLES = {
    "admin": None,
    "monitor": None,
    "integration": None,
    "auditor": None,
    "investigator": "S01",
    "src_member": None,
}


class Api:
    """A TestClient over a fresh app, and one key per role."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.app = build_app(ledger)
        self.client = TestClient(self.app)
        ring = build_key_ring(ledger)
        self.keys = {
            role: ring.issue(f"{role} key", role, site, OPERATOR)[0] for role, site in ROLES.items()
        }

    def call(self, method: str, path: str, role: str | None, expect: int, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code == expect, response.text
        return response

    def samples(self, role: str = "monitor") -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of /metrics: (name, labels) -> value."""
        response = self.call("GET", "/metrics", role, 200)
        assert response.headers["content-type"] == CONTENT_TYPE
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger)


def domain_events_in_store(ledger: DoseLedger) -> int:
    count, start = 0, 0
    while page := ledger.recorder.select_notifications(start, 500, inclusive_of_start=False):
        count += sum(n.topic.startswith(("doseledger:trial.", "doseledger:patient.")) for n in page)
        start = page[-1].id
    return count


def test_metrics_count_requests_by_route_template_and_events_appended(api: Api) -> None:
    record_demo_trial(api.ledger)
    trial = api.call("POST", "/trials", "admin", 201, json={"template_id": "defactinib-paclitaxel"})
    tid = trial.json()["id"]
    # Enrolment records a patient: a site's investigator does it, never an admin.
    api.call("POST", f"/trials/{tid}/patients", "admin", 403, json=enrolling("S01"))
    api.call("POST", f"/trials/{tid}/patients", "investigator", 201, json=enrolling("S01"))
    api.call("GET", f"/trials/{tid}", "monitor", 200)
    api.call("GET", f"/trials/{tid}", "auditor", 200)
    api.call("GET", f"/trials/{uuid4()}", "monitor", 404)
    api.call("GET", "/trials", None, 401)
    api.call("GET", f"/no/such/{uuid4()}", "monitor", 404)
    api.call("DELETE", "/trials", "admin", 405)
    api.call("BREW", "/trials", "admin", 405)
    api.call("GET", "/events?limit=5", "integration", 200)

    samples = api.samples()

    requests = "doseledger_http_requests_total"
    assert value(samples, requests, method="POST", route="/trials", status="201") == 1
    enrol = "/trials/{trial_id}/patients"
    assert value(samples, requests, method="POST", route=enrol, status="201") == 1
    assert value(samples, requests, method="POST", route=enrol, status="403") == 1
    assert value(samples, requests, method="GET", route="/trials/{trial_id}", status="200") == 2
    assert value(samples, requests, method="GET", route="/trials/{trial_id}", status="404") == 1
    assert value(samples, requests, method="GET", route="/trials", status="401") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, requests, method="DELETE", route="/trials", status="405") == 1
    assert value(samples, requests, method="other", route="/trials", status="405") == 1
    assert value(samples, requests, method="GET", route="/events", status="200") == 1
    labels = {dict(k[1]).get("route") for k in samples if k[0] == requests}
    assert not any(tid in str(label) or "/no/such" in str(label) for label in labels)
    latency = "doseledger_http_request_duration_seconds_count"
    assert value(samples, latency, method="GET", route="/trials/{trial_id}") == 3
    buckets = [k for k in samples if k[0] == "doseledger_http_request_duration_seconds_bucket"]
    assert buckets
    seconds = "doseledger_http_request_duration_seconds_sum"
    took = value(samples, seconds, method="POST", route="/trials")
    assert took is not None and 0 < took < 60

    saved = domain_events_in_store(api.ledger)
    assert saved == api.ledger.events_appended > 100  # the demo trial, the trial, an enrolment
    assert value(samples, "doseledger_events_appended_total") == saved
    head = api.ledger.recorder.max_notification_id()
    assert value(samples, "doseledger_store_head_position") == head
    # The read models have not been read yet, so they lag by everything stored so far.
    positions = api.client.app.state.projection_positions()  # type: ignore[attr-defined]
    assert value(samples, "doseledger_projection_lag_events") == head - min(positions.values())

    # The scrape itself is counted by the next one.
    again = api.samples("admin")
    assert value(again, requests, method="GET", route="/metrics", status="200") == 1


def test_projection_lag_is_head_minus_the_slowest_read_model(api: Api) -> None:
    record_demo_trial(api.ledger)
    head = api.ledger.recorder.max_notification_id() or 0
    api.app.state.projection_positions = lambda: {"trial_overview": head, "audit_trail": head - 7}
    samples = api.samples()
    assert value(samples, "doseledger_projection_lag_events") == 7
    position = "doseledger_projection_position"
    assert value(samples, position, projection="audit_trail") == head - 7
    assert value(samples, position, projection="trial_overview") == head

    def broken() -> dict[str, int]:
        raise RuntimeError("read model store unreachable")

    api.app.state.projection_positions = broken
    samples = api.samples()  # still served
    assert value(samples, "doseledger_projection_lag_events") is None
    assert value(samples, "doseledger_store_head_position") == head


def test_an_unhandled_error_is_counted_as_500_under_its_template(ledger: DoseLedger) -> None:
    api = Api(ledger)

    def explode(thing_id: str) -> None:
        raise RuntimeError("boom")

    api.app.add_api_route("/boom/{thing_id}", explode)
    api.client = TestClient(api.app, raise_server_exceptions=False)
    api.call("GET", "/boom/42", None, 500)
    samples = api.samples()
    requests = "doseledger_http_requests_total"
    assert value(samples, requests, method="GET", route="/boom/{thing_id}", status="500") == 1


def test_metrics_need_an_observer_key(api: Api) -> None:
    missing = api.call("GET", "/metrics", None, 401)
    assert missing.headers["content-type"] == "application/problem+json"
    for role in ("investigator", "src_member"):
        forbidden = api.call("GET", "/metrics", role, 403)
        assert forbidden.headers["content-type"] == "application/problem+json"
    for role in ("integration", "monitor", "auditor", "admin"):
        api.samples(role)


def test_each_app_has_its_own_registry(ledger: DoseLedger) -> None:
    first, second = Api(ledger), Api(ledger)
    first.call("GET", "/trials", "admin", 200)
    requests = "doseledger_http_requests_total"
    assert value(first.samples(), requests, method="GET", route="/trials", status="200") == 1
    assert value(second.samples(), requests, method="GET", route="/trials", status="200") is None


def test_openapi_documents_feed_and_metrics(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/events", "/events/stream", "/metrics"):
        operation = paths[path]["get"]
        assert operation["summary"] and operation["security"] == [{"HTTPBearer": []}]
        assert {"401", "403"} <= set(operation["responses"])
    assert "422" in paths["/events"]["get"]["responses"]
    assert "text/event-stream" in paths["/events/stream"]["get"]["responses"]["200"]["content"]
    assert CONTENT_TYPE in paths["/metrics"]["get"]["responses"]["200"]["content"]
    stream_problem = paths["/events/stream"]["get"]["responses"]["422"]["content"]
    assert list(stream_problem) == ["application/problem+json"]
    page = paths["/events"]["get"]["responses"]["200"]["content"]["application/json"]
    assert page["schema"] == {"$ref": "#/components/schemas/FeedPage"}
