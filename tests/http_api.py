"""A TestClient over the app with named API keys, and a call that checks the status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring
from domain.actors import Actor

OPERATOR = Actor(user_id="ops", role="admin")


class Api:
    """The app over a ledger, a TestClient, and one key per name: ``{name: (role, site)}``."""

    def __init__(self, ledger: DoseLedger, keys: Mapping[str, tuple[str, str | None]]) -> None:
        self.ledger = ledger
        self.app = build_app(ledger)
        self.client = TestClient(self.app)
        ring = build_key_ring(ledger)
        self.keys = {
            name: ring.issue(name, role, site, OPERATOR)[0] for name, (role, site) in keys.items()
        }

    def call(self, method: str, path: str, key: str | None, expect: int, **kwargs: Any) -> Any:
        """Send a request with the named key (None: none); the status must be ``expect``."""
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {self.keys[key]}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response
