"""Access control on every route: 401 without a valid key, 403 for a role that may not, 404 for
another site's patient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from adapters.application.api_keys import KEY_ROLES
from adapters.bootstrap import build_app, build_key_ring, build_ledger
from adapters.persistence.environment import persistence_env
from domain.actors import Actor
from support import enrolling

OPEN = {"/healthz", "/readyz", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
ZERO = "00000000-0000-0000-0000-000000000000"


def allowed_roles(route: APIRoute) -> tuple[str, ...] | None:
    """The roles a route's `allow(...)` dependency admits (None: no key needed)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        roles = getattr(dependant.call, "roles", None)
        if roles is not None:
            return tuple(roles)
        stack.extend(dependant.dependencies)
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("access") / "store.db"
    ledger = build_ledger(env=persistence_env(f"sqlite:///{path}"))
    app = build_app(ledger)
    app.state.feed_stream_seconds = 0.1  # event streams end at once here
    ring = build_key_ring(ledger)
    operator = Actor(user_id="ops", role="admin")
    keys = {
        role: ring.issue(f"{role} key", role, "S01" if role == "investigator" else None, operator)[
            0
        ]
        for role in KEY_ROLES
    }
    keys["other-site"] = ring.issue("site 2", "investigator", "S02", operator)[0]
    revoked_secret, revoked = ring.issue("gone", "admin", None, operator)
    ring.revoke(revoked["id"], "test", operator)
    keys["revoked"] = revoked_secret
    yield {"client": TestClient(app), "app": app, "keys": keys, "ledger": ledger}
    ledger.close()


def _flat(routes: list[Any]) -> list[Any]:
    # FastAPI keeps included routers as nodes; their routes carry the router's prefix.
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat.extend(_flat(included.routes) if included is not None else [route])
    return flat


def routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    found = []
    for route in _flat(app.routes):
        if isinstance(route, APIRoute) and route.path not in OPEN:
            for method in sorted(route.methods):
                found.append((method, re.sub(r"{[^}]+}", ZERO, route.path), route))
    return found


def test_every_route_needs_a_valid_key(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    checked = 0
    for method, path, route in routes(world["app"]):
        assert allowed_roles(route) is not None, f"{method} {route.path} has no access rule"
        for headers in (
            {},
            {"Authorization": "Bearer dl_not-a-key"},
            {"Authorization": f"Bearer {keys['revoked']}"},
            {"Authorization": "Basic YWRtaW46YWRtaW4="},
        ):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, route.path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
        checked += 1
    assert checked >= 14


def test_every_route_refuses_the_roles_it_does_not_admit(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    for method, path, route in routes(world["app"]):
        admitted = allowed_roles(route) or ()
        for role in KEY_ROLES:
            response = client.request(
                method, path, json={}, headers={"Authorization": f"Bearer {keys[role]}"}
            )
            if role in admitted:
                assert response.status_code != 403 or "site" in response.text, (
                    method,
                    route.path,
                    role,
                    response.text,
                )
                assert response.status_code != 401
            else:
                assert response.status_code == 403, (method, route.path, role, response.text)


def test_the_policy(world: dict[str, Any]) -> None:
    """The access table as the protocol's roles expect it."""
    by_path = {(m, r.path): allowed_roles(r) or () for m, _, r in routes(world["app"])}
    assert by_path[("POST", "/trials/{trial_id}/decisions")] == ("src_member",)
    assert by_path[("POST", "/trials/{trial_id}/dlt-adjudications")] == ("src_member",)
    assert by_path[("POST", "/trials/{trial_id}/patients")] == ("investigator",)
    assert "investigator" not in by_path[("POST", "/trials")]
    assert set(by_path[("GET", "/trials/{trial_id}")]) >= {"monitor", "auditor", "integration"}
    for (method, path), roles in by_path.items():
        if method == "POST" and path.startswith("/patients/"):
            assert set(roles) == {"investigator"}, path  # admins record no clinical data
        if path.startswith("/webhooks"):
            assert set(roles) == {"integration", "admin"}, (method, path)
    assert ("DELETE", "/webhooks/{subscription_id}") in by_path


def test_an_investigator_reaches_only_its_own_site(world: dict[str, Any]) -> None:
    client, keys, ledger = world["client"], world["keys"], world["ledger"]
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    tid = client.post(
        "/trials", json={"template_id": "defactinib-paclitaxel"}, headers=admin
    ).json()["id"]
    mine = {"Authorization": f"Bearer {keys['investigator']}"}
    theirs = {"Authorization": f"Bearer {keys['other-site']}"}
    assert (
        client.post(
            f"/trials/{tid}/patients",
            json=enrolling("S02"),
            headers=mine,
        ).status_code
        == 403
    )
    pid = client.post(
        f"/trials/{tid}/patients",
        json=enrolling("S01"),
        headers=mine,
    ).json()["id"]
    before = ledger.recorder.max_notification_id()
    for method, suffix, body in [
        ("GET", "", None),
        (
            "POST",
            "/eye-exams",
            {"clinical_date": "2026-03-01", "bcva_right": "20/20", "bcva_left": "20/20"},
        ),
        ("POST", "/skin-exams", {"clinical_date": "2026-03-01", "findings": "none"}),
        ("POST", "/dosing", {"clinical_date": "2026-03-02"}),
    ]:
        response = client.request(method, f"/patients/{pid}{suffix}", json=body, headers=theirs)
        # Another site's patient is answered as an unknown one (tests/security/test_access.py).
        assert response.status_code == 404, (suffix, response.text)
    assert ledger.recorder.max_notification_id() == before
    assert client.get(f"/patients/{pid}", headers=mine).status_code == 200
