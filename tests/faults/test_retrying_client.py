"""Issue 14: a client that gives up on each request after a short timeout and sends it again
with the same Idempotency-Key, over and over, against two instances on one PostgreSQL
database: each request is recorded once, and every one is answered in the end."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import httpx

from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from fault_cluster import TRIAL, admin_key, fresh_database, serving, trials_by_name

CLIENTS = 4
REQUESTS_PER_CLIENT = 15
IMPATIENT = httpx.Timeout(5.0, read=0.03)  # shorter than most writes take: many time out
DEADLINE_SECONDS = 60.0


def test_retrying_every_request_after_a_timeout_records_each_once(tmp_path: Path) -> None:
    with fresh_database() as url:
        secret = admin_key(url)
        with serving(url, tmp_path, 2) as apis:
            bases = [api.base for api in apis]

            def client(n: int) -> tuple[dict[str, str], int]:
                answered: dict[str, str] = {}
                timeouts = 0
                with httpx.Client(timeout=IMPATIENT) as http:
                    for i in range(REQUESTS_PER_CLIENT):
                        key = f"c{n}-r{i}"
                        headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": key}
                        deadline = time.monotonic() + DEADLINE_SECONDS
                        attempt = 0
                        while time.monotonic() < deadline:
                            base = bases[(n + attempt) % 2]
                            attempt += 1
                            try:
                                response = http.post(
                                    f"{base}/trials", headers=headers, json=TRIAL | {"name": key}
                                )
                            except httpx.TimeoutException:
                                timeouts += 1
                                continue
                            if response.status_code == 201:
                                answered[key] = response.json()["id"]
                                break
                            # 409: the same key is still running elsewhere; try again.
                            assert response.status_code == 409, response.text
                            assert response.json()["type"].endswith("/conflict"), response.text
                return answered, timeouts

            with ThreadPoolExecutor(CLIENTS) as pool:
                results = list(pool.map(client, range(CLIENTS)))
        answered = {k: v for found, _ in results for k, v in found.items()}
        timeouts = sum(t for _, t in results)
        assert timeouts > 0, "no request timed out: nothing was retried"
        assert len(answered) == CLIENTS * REQUESTS_PER_CLIENT
        ledger = build_ledger(env=persistence_env(url))
        try:
            recorded = trials_by_name(ledger)
        finally:
            ledger.close()
        assert {name: len(ids) for name, ids in recorded.items() if len(ids) != 1} == {}
        assert {k: [UUID(v)] for k, v in answered.items()} == recorded
