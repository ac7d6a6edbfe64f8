"""A bad-input campaign over a running ``doseledger serve`` (uvicorn on a real socket).

Schemathesis generates requests for every operation of the service's own OpenAPI schema, valid
and schema-violating alike (bodies, queries, path ids, headers), and sends each with the key of
every role in turn (and with none). Every request is checked as it returns:

- the service never answers 5xx, and is still up (``/healthz``) at the end;
- a refused request (any 4xx) appended nothing: the store's last position is the same before
  and after it (requests are sent one at a time, and the process runs no scheduler, so nothing
  else writes).

Half the valid cases address the demo trial's real trial, patient and adverse event (generated
ids rarely exist), so commands reach the domain's own refusals, not only 404s.

``DOSELEDGER_CAMPAIGN_REQUESTS`` sets the number of requests (default 1,000, what every
``./scripts/test`` sends); the long campaign is ``DOSELEDGER_CAMPAIGN_REQUESTS=10000 pytest -m
campaign``. Generation is seeded, so a run can be replayed.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from adapters.access import READERS
from adapters.bootstrap import build_key_ring, build_ledger
from adapters.demo import record_demo_trial
from adapters.persistence.environment import persistence_env
from domain.actors import Actor
from domain.patient import Patient
from processes import Process, running, wait_until

pytestmark = pytest.mark.campaign
REQUESTS = int(os.environ.get("DOSELEDGER_CAMPAIGN_REQUESTS", "1000"))
OPERATOR = Actor(user_id="ops", role="admin")
KEYLESS = "no key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """The served store: its file, base URL, a key per role and the demo's real ids."""

    store: Path
    base: str
    keys: dict[str, str]
    real_ids: dict[str, str]
    process: Process
    tally: dict[str, int] = field(default_factory=dict)

    def last_position(self) -> int:
        """The store's last event position, read from the file itself."""
        with sqlite3.connect(self.store) as connection:
            (position,) = connection.execute("SELECT max(rowid) FROM stored_events").fetchone()
        return int(position or 0)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("campaign")
    store = folder / "store.db"
    url = f"sqlite:///{store}"
    ledger = build_ledger(env=persistence_env(url))
    try:
        trial_id = record_demo_trial(ledger)
        enrolled = ledger.recorder.select_notifications(
            None, 100, topics=[Patient.Enrolled.TOPIC], inclusive_of_start=True
        )
        patient_id, site, ae_id = next(
            (str(n.originator_id), patient["site_id"], str(ae["id"]))
            for n in enrolled
            if (patient := ledger.patient(n.originator_id))["adverse_events"]
            for ae in patient["adverse_events"]
        )
        # The investigator's key is of the site of the patient the campaign addresses.
        keys = {
            role: build_key_ring(ledger).issue(
                f"campaign {role}", role, site if role == "investigator" else None, OPERATOR
            )[0]
            for role in READERS
        }

    finally:
        ledger.close()
    port = _free_port()
    env = {"DOSELEDGER_DATABASE_URL": url, "DOSELEDGER_LOG_LEVEL": "WARNING"}
    argv = ["serve", "--no-scheduler", "--port", str(port)]
    with running(argv, env, folder / "serve.log") as process:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(base), "the service answers /healthz", process)
        yield Service(
            store,
            base,
            keys,
            {"trial_id": str(trial_id), "patient_id": patient_id, "ae_id": ae_id},
            process,
        )
        process.stop()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    # Each request gets its role's Authorization header; none is generated.
    schema.config.generation.update(with_security_parameters=False)
    return [result.ok() for result in schema.get_all_operations()]


def _with_real_ids(case: Any, real: dict[str, str], use_real: bool) -> None:
    if use_real and case.path_parameters:
        for name in case.path_parameters:
            if name in real:
                case.path_parameters[name] = real[name]


def test_generated_requests_never_fail_the_service_nor_write_when_refused(
    service: Service,
) -> None:
    operations = _operations(service.base)
    roles = [*service.keys, KEYLESS]
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for operation in operations
        # The event stream is followed for real in test_http_feed; here it would hold a
        # connection open for its whole duration.
        if not operation.path.endswith("/stream")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        # An operation without parameters or body has no schema-violating request.
        if mode is GenerationMode.POSITIVE or _has_inputs(operation)
    ]
    failures: list[str] = []
    sent = {"requests": 0, "refused": 0, "accepted": 0}
    by_role = dict.fromkeys(roles, 0)
    reached: set[str] = set()
    client = httpx.Client(base_url=service.base, timeout=30)

    per_strategy = -(-REQUESTS // len(strategies))  # at least REQUESTS in all

    def send(case: Any, use_real: bool) -> None:
        if sent["requests"] >= REQUESTS:
            return
        # Keys in turn, so every role sends alike (the key is not drawn: generation stays
        # the same from run to run whatever the responses).
        count = sent["requests"]
        role = roles[count % len(roles)]
        _with_real_ids(case, service.real_ids, use_real)
        headers = {} if role == KEYLESS else {"Authorization": f"Bearer {service.keys[role]}"}
        before = service.last_position()
        kwargs = case.as_transport_kwargs(base_url=service.base, headers=headers)
        response = client.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            content=_content(kwargs),
        )
        sent["requests"] += 1
        by_role[role] += 1
        reached.add(f"{case.operation.method.upper()} {case.operation.path}")
        where = f"{case.method} {case.formatted_path} as {role}"
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400:
            sent["refused"] += 1
            if service.last_position() != before:
                failures.append(f"{where}: refused with {response.status_code} but appended")
        else:
            sent["accepted"] += 1

    unsatisfiable: set[int] = set()  # a mode the operation's schema cannot produce
    rounds = 0
    while sent["requests"] < REQUESTS and rounds < 10:
        for index, strategy in enumerate(strategies):
            if index in unsatisfiable or sent["requests"] >= REQUESTS:
                continue
            # Failures are collected, never raised: hypothesis generates and never shrinks.
            run = settings(
                max_examples=per_strategy,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy, use_real=st.booleans())(send))
            try:
                seed(rounds * len(strategies) + index)(run)()
            except Unsatisfiable:
                unsatisfiable.add(index)
        rounds += 1
    client.close()
    service.tally.update(sent)
    # The counts, for the long campaign's record.
    print(f"campaign: {sent}; by role: {by_role}; operations reached: {len(reached)}")
    assert failures == [], "\n".join(failures[:20])
    assert sent["requests"] >= REQUESTS, sent
    assert sent["refused"] > sent["requests"] // 4, sent  # the campaign is mostly bad input
    assert min(by_role.values()) >= REQUESTS // (4 * len(roles)), by_role  # every role's key
    assert len(reached) >= len(operations) - 1, sorted(reached)  # all but the stream
    assert service.process.popen.poll() is None and _healthy(service.base)


def _has_inputs(operation: Any) -> bool:
    return bool(operation.body or operation.query or operation.path_parameters or operation.headers)


def _content(kwargs: dict[str, Any]) -> Any:
    """The request body as schemathesis serialised it (JSON, form or raw bytes)."""
    if "json" in kwargs:
        import json

        return json.dumps(kwargs["json"]).encode()
    return kwargs.get("content") or kwargs.get("data")
