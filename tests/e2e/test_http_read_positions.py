"""Reading your own writes across instances: a write answers X-Position, a read of a read model
on another instance sent X-Min-Position answers once its read models reached it, or 409."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_http_story import Api

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from support import enrolling

READS = (
    "/trials/{trial_id}/cohorts",
    "/trials/{trial_id}/safety-table",
    "/trials/{trial_id}/audit",
    "/patients/{patient_id}/timeline",
    "/reminders",
)


@pytest.fixture
def two_instances(ledger: DoseLedger, database_url: str) -> Iterator[tuple[Api, Api]]:
    """Two apps, each with its ledger and read models, on one store (two `serve` processes)."""
    other = build_ledger(env=persistence_env(database_url))
    try:
        yield Api(ledger), Api(other)
    finally:
        other.close()


def test_a_write_answers_its_position_and_another_instance_reads_it_with_x_min_position(
    two_instances: tuple[Api, Api], ledger: DoseLedger
) -> None:
    writer, reader = two_instances
    registered = writer.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    )
    trial = registered.json()["id"]
    assert int(registered.headers["X-Position"]) == ledger.recorder.max_notification_id()
    enrolled = writer.call("POST", f"/trials/{trial}/patients", "inv", 201, json=enrolling("S01"))
    position = int(enrolled.headers["X-Position"])
    assert position > int(registered.headers["X-Position"])
    assert "X-Position" not in writer.call("GET", f"/trials/{trial}", "admin", 200).headers

    found = reader.call(
        "GET",
        f"/trials/{trial}/cohorts",
        "monitor",
        200,
        headers={"X-Min-Position": str(position)},
    ).json()
    assert found["cohorts"][0]["enrolled"] == 1


def test_a_position_never_reached_is_a_409_problem_at_once_and_a_bad_one_a_422(
    two_instances: tuple[Api, Api], ledger: DoseLedger
) -> None:
    writer, reader = two_instances
    trial = writer.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    head = ledger.recorder.max_notification_id() or 0
    started = time.monotonic()
    refused = reader.call(
        "GET",
        f"/trials/{trial}/cohorts",
        "monitor",
        409,
        headers={"X-Min-Position": str(head + 100)},
    ).json()
    assert time.monotonic() - started < 2  # the store has no such position: no wait
    assert refused["type"].endswith("/position-not-reached")
    assert refused["position"] == head + 100 and refused["reached"] == head
    reader.call(
        "GET", f"/trials/{trial}/cohorts", "monitor", 422, headers={"X-Min-Position": "soon"}
    )


def test_the_schema_documents_x_position_and_x_min_position(two_instances: tuple[Api, Api]) -> None:
    schema = two_instances[0].client.get("/openapi.json").json()
    for path in READS:
        operation = schema["paths"][path]["get"]
        names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "X-Min-Position" in names, path
        assert {"409", "503"} <= set(operation["responses"]), path
    for path, item in schema["paths"].items():
        if "post" in item:
            answers = [a for c, a in item["post"]["responses"].items() if c.startswith("2")]
            assert all("X-Position" in a.get("headers", {}) for a in answers), path
