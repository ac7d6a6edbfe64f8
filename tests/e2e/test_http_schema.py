"""Schemathesis over the whole OpenAPI schema of the app, on a store holding the demo trial.

Every operation the app documents (routes added later included) is tested twice:

- with an admin key: no 5xx, every response conforms to the schema (status code documented,
  content type, body shape), data that violates the schema gets a documented 4xx, and an
  undocumented method gets a 405 whose Allow header lists the resource's methods. Generated
  path ids rarely exist (404); in the fuzzing phase the valid cases instead address the demo
  trial, one of its patients and that patient's adverse event, so reads and commands hit
  real data.
- with no key: every operation that declares security answers 401, and the open ones (health,
  readiness) conform to the schema.

Generation is derandomized and bounded (MAX_EXAMPLES fuzzed cases per operation and pass, plus
the schema's examples and schemathesis' coverage cases), so a run is reproducible and short.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.demo import record_demo_trial
from adapters.persistence.environment import persistence_env
from domain.actors import Actor

OPERATOR = Actor(user_id="ops", role="admin")
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
MAX_EXAMPLES = 20
# Reproducible and bounded; no deadline (a shared 2-core machine must not fail a test).
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    # Data that violates the schema gets a 4xx (a documented one: status_code_conformance).
    "negative_data_rejection",
    # An undocumented method gets a 405 with an Allow header.
    "unsupported_method",
]


class Demo:
    """A fresh SQLite store holding the demo trial, and an admin key."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.trial_id = record_demo_trial(ledger)
        self.admin_key = build_key_ring(ledger).issue("schemathesis", "admin", None, OPERATOR)[0]
        # A demo patient with an adverse event (the CPK DLT), for the AE grade route.
        self.patient_id, self.ae_id = self._patient_with_an_ae()

    def _patient_with_an_ae(self) -> tuple[str, str]:
        for patient_id in self.ledger.trial_aggregate(self.trial_id).patient_cohort:
            for ae in self.ledger.patient(patient_id)["adverse_events"]:
                return str(patient_id), str(ae["id"])
        raise AssertionError("the demo trial has no patient with an adverse event")

    def real_ids(self) -> dict[str, str]:
        return {"trial_id": str(self.trial_id), "patient_id": self.patient_id, "ae_id": self.ae_id}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    path = tmp_path_factory.mktemp("schema") / "store.db"
    ledger = build_ledger(env=persistence_env(f"sqlite:///{path}"))
    try:
        yield Demo(ledger)
    finally:
        ledger.close()


@pytest.fixture
def app(demo: Demo) -> FastAPI:
    """An app over the demo store, per test: schemathesis ends an app's lifespan after each
    test (closing its read models), so each test starts its own."""
    app = build_app(demo.ledger)
    # Event streams end at once here (they are followed for real in test_http_feed).
    app.state.feed_stream_seconds = 0.05
    app.state.feed_poll_seconds = 0.01
    return app


def _load_schema() -> Any:
    """The app's schema, read at import: pytest makes a test per operation out of it.

    It is read through /openapi.json of an app over a throwaway store; generated calls go to
    the ``app`` fixture's app, which has the same routes. (``schemathesis.pytest.from_fixture``
    would load it in a fixture instead, but its loader fails on pytest 9.2: ``Function`` has no
    ``_nodeid`` any more.)
    """
    with tempfile.TemporaryDirectory(prefix="schema-") as folder:
        ledger = build_ledger(env=persistence_env(f"sqlite:///{folder}/schema.db"))
        try:
            schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(ledger))
        finally:
            ledger.close()
    # Each pass gives its own Authorization header; none is generated.
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, with_security_parameters=False
    )
    return schema


schema = _load_schema()


def _with_real_ids(case: Any, demo: Demo) -> None:
    """Valid fuzzing cases address the demo trial's real trial, patient and AE."""
    meta = case.meta
    if (
        meta is not None
        and meta.phase.name == TestPhase.FUZZING
        and not meta.is_negative_at(ParameterLocation.PATH)
        and case.path_parameters
    ):
        real = demo.real_ids()
        for name in case.path_parameters:
            if name in real:
                case.path_parameters[name] = real[name]


def _checks() -> list[Any]:
    from schemathesis import checks

    return [getattr(checks, name) for name in CHECKS]


def _is_json(body: bytes | str | None) -> bool:
    try:
        json.loads(body or b"null")
    except ValueError:
        return False
    return True


def _documented_methods(path: str) -> set[str]:
    methods = {m.upper() for m in schema.raw_schema["paths"][path] if m.upper() in HTTP_METHODS}
    return methods | ({"HEAD"} if "GET" in methods else set())


@pytest.mark.parametrize("key", ["admin-key", "no-key"])
@schema.parametrize()
@BOUNDED
def test_every_operation_conforms_to_the_schema(
    case: Any, key: str, demo: Demo, app: FastAPI
) -> None:
    """With an admin key every response conforms; without one, protected operations say 401."""
    _with_real_ids(case, demo)
    headers = {"Authorization": f"Bearer {demo.admin_key}"} if key == "admin-key" else {}
    response = case.call(app=app, headers=headers)
    declared = case.method.upper() == case.operation.method.upper()  # not a 405 probe
    if key == "no-key" and declared and case.operation.definition.raw.get("security"):
        # The body is read before the key is checked: a body that is not even JSON is
        # refused first (a documented 400, or 415 for another content type); any other
        # request without a key gets a 401.
        expected = {401} if _is_json(response.request.body) else {400, 401}
        media = response.request.headers.get("content-type", "").split(";")[0].strip()
        if response.request.body and media and media != "application/json":
            expected = {415}
        assert response.status_code in expected, (case.method, case.formatted_path, response.text)
    if response.status_code == 405:
        # Allow lists every method of the resource, not only those of one of its routes.
        allow = {m.strip() for m in response.headers.get("allow", [""])[0].split(",")}
        assert allow == _documented_methods(case.operation.path), (case.method, allow)
    case.validate_response(response, checks=_checks(), headers=headers)


def test_only_health_and_readiness_are_open() -> None:
    """The no-key pass relies on each protected operation declaring its security."""
    open_operations = {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method.upper() in HTTP_METHODS and not operation.get("security")
    }
    assert open_operations == {"GET /healthz", "GET /readyz"}
