"""Every error is a problem (application/problem+json), a crash included; bodies that are not
JSON, or too large, are refused with a problem saying so, and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.application import DoseLedger
from adapters.bootstrap import build_app
from adapters.settings import Settings
from http_api import Api
from projections.queries import ReadModelQueries

TRIAL = {"template_id": "defactinib-paclitaxel"}
PROBLEM = "application/problem+json"


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, {"admin": ("admin", None)})


@contextmanager
def nothing_written(api: Api) -> Iterator[None]:
    before = api.ledger.recorder.max_notification_id()
    yield
    assert api.ledger.recorder.max_notification_id() == before


def test_an_unhandled_exception_is_a_logged_500_problem_with_the_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def fail(self: ReadModelQueries, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom: the disk is gone")

    monkeypatch.setattr(ReadModelQueries, "trial_list", fail)
    response = api.call("GET", "/trials", "admin", 500, headers={"X-Request-ID": "req-500"})
    body = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "req-500"
    assert body["status"] == 500 and body["request_id"] == "req-500"
    assert "boom" not in response.text  # the cause is logged, not shown
    logged = capfd.readouterr().err
    assert "unhandled error" in logged and "req-500" in logged and "boom" in logged


def test_malformed_json_is_a_400_saying_where(api: Api) -> None:
    with nothing_written(api):
        response = api.call(
            "POST",
            "/trials",
            "admin",
            400,
            content='{"template_id": "defactinib-paclitaxel",}',
            headers={"Content-Type": "application/json"},
        )
    detail = response.json()["detail"]
    assert "not valid JSON" in detail and "character 40" in detail, detail
    assert response.json()["field"] == "body"


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    with nothing_written(api):
        response = api.call(
            "POST",
            "/trials",
            "admin",
            400,
            content=b'{"template_id": "\xff"}',
            headers={"Content-Type": "application/json"},
        )
    assert "not valid JSON" in response.json()["detail"]


def test_a_form_encoded_body_is_a_415_asking_for_json(api: Api) -> None:
    with nothing_written(api):
        response = api.call("POST", "/trials", "admin", 415, data=TRIAL)
    assert "application/json" in response.json()["detail"]
    assert "valid dictionary" not in response.text


def test_a_body_over_the_limit_is_a_413(ledger: DoseLedger) -> None:
    api = Api(ledger, {"admin": ("admin", None)})
    api.client = TestClient(build_app(ledger, settings=Settings(max_body_bytes=64)))
    big = {**TRIAL, "name": "x" * 100}
    with nothing_written(api):
        response = api.call("POST", "/trials", "admin", 413, json=big)
        assert "64 bytes" in response.json()["detail"]
        # Without a Content-Length (chunked) too.
        chunks = iter(
            [b'{"template_id": "defactinib-paclitaxel", ', b'"name": "' + b"x" * 100 + b'"}']
        )
        api.call(
            "POST",
            "/trials",
            "admin",
            413,
            content=chunks,
            headers={"Content-Type": "application/json"},
        )
    api.call("POST", "/trials", "admin", 201, json=TRIAL)


def test_every_error_is_documented_as_a_problem(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    post = schema["paths"]["/trials"]["post"]["responses"]
    for code in ("400", "413", "415", "500"):
        assert PROBLEM in post[code]["content"], code
    assert PROBLEM in schema["paths"]["/trials"]["get"]["responses"]["500"]["content"]
