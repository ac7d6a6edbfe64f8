"""Any process with a DoseLedger can decode every event in its store (workers included)."""

from __future__ import annotations

import subprocess
import sys
from uuid import uuid4

from fastapi.testclient import TestClient

from adapters.application.idempotent_request import IdempotentRequest
from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.persistence.environment import persistence_env
from domain.actors import Actor


def test_a_fresh_process_decodes_keys_idempotency_and_webhook_records(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    secret, _ = build_key_ring(ledger).issue(
        "ops", "admin", None, Actor(user_id="ops", role="admin")
    )
    client = TestClient(build_app(ledger))
    response = client.post(
        "/trials",
        json={"template_id": "defactinib-paclitaxel"},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k1"},
    )
    assert response.status_code == 201
    # The Idempotency-Key is kept outside the event store now ...
    assert not any(
        n.topic.startswith("doseledger:idempotency")
        for n in ledger.recorder.select_notifications(None, 1000)
    )
    # ... but stores written before hold idempotency records, which must still decode.
    old = IdempotentRequest(id=uuid4(), fingerprint="f")
    old.answer(201, "{}", {})
    ledger.save(old)
    response = client.post(
        "/webhooks",
        json={"url": "https://edc.example.org/hooks", "name": "EDC"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201
    notifications = ledger.recorder.select_notifications(None, 1000)
    topics = {n.topic for n in notifications}
    assert {
        "doseledger:api_key.Issued",
        "doseledger:idempotency.Claimed",
        "doseledger:idempotency.Answered",
        "doseledger:webhook.Subscribed",
    } <= topics
    ledger.close()
    code = (
        "import sys\n"
        "from adapters.application import DoseLedger\n"
        "from adapters.persistence.environment import persistence_env\n"
        "app = DoseLedger(env=persistence_env(sys.argv[1]))\n"
        "events = [app.mapper.to_domain_event(n)\n"
        "          for n in app.recorder.select_notifications(None, 1000)]\n"
        "print(len(events))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, sqlite_url], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(notifications)
