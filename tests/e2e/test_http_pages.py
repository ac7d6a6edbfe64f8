"""Cursor pagination of GET /trials and GET /webhooks: after, limit, next."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.services import DoseLedger
from http_api import Api


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(
        ledger,
        {
            "admin": ("admin", None),
            "monitor": ("monitor", None),
            "edc": ("integration", None),
            "crm": ("integration", None),
        },
    )


def pages(api: Api, path: str, key: str, name: str, limit: int) -> list[list[dict[str, Any]]]:
    found, after = [], None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({} if after is None else {"after": after})
        page = api.call("GET", path, key, 200, params=params).json()
        assert set(page) == {name, "next"}
        found.append(page[name])
        after = page["next"]
        if after is None:
            return found
        assert isinstance(after, str) and page[name]


def test_trials_page_by_cursor(api: Api) -> None:
    assert api.call("GET", "/trials", "monitor", 200).json() == {"trials": [], "next": None}
    for n in range(5):
        body = {"template_id": "defactinib-paclitaxel", "name": f"T{n}"}
        api.call("POST", "/trials", "admin", 201, json=body)
    everything = api.call("GET", "/trials", "monitor", 200).json()
    assert [t["name"] for t in everything["trials"]] == [f"T{n}" for n in range(5)]
    assert everything["next"] is None
    by_two = pages(api, "/trials", "monitor", "trials", 2)
    assert [len(p) for p in by_two] == [2, 2, 1]
    assert [t for p in by_two for t in p] == everything["trials"]
    assert [len(p) for p in pages(api, "/trials", "monitor", "trials", 5)] == [5]
    # A page taken before more trials were registered goes on with them.
    first = api.call("GET", "/trials", "monitor", 200, params={"limit": 4}).json()
    body = {"template_id": "defactinib-paclitaxel", "name": "T5"}
    api.call("POST", "/trials", "admin", 201, json=body)
    rest = api.call("GET", "/trials", "monitor", 200, params={"after": first["next"]}).json()
    assert [t["name"] for t in rest["trials"]] == ["T4", "T5"] and rest["next"] is None
    for bad in ("x", "-1", "1" * 30):
        problem = api.call("GET", "/trials", "monitor", 422, params={"after": bad}).json()
        assert problem["field"] == "after"
    for bad_limit in (0, 1001):
        api.call("GET", "/trials", "monitor", 422, params={"limit": bad_limit})


def test_webhook_subscriptions_page_by_cursor(api: Api) -> None:
    def subscribe(key: str, name: str) -> str:
        body = {"url": "https://edc.example.org/hooks", "name": name}
        return str(api.call("POST", "/webhooks", key, 201, json=body).json()["id"])

    mine = [subscribe("edc", f"EDC {n}") for n in range(3)]
    theirs = subscribe("crm", "CRM")
    by_two = pages(api, "/webhooks", "edc", "subscriptions", 2)
    assert [[s["id"] for s in p] for p in by_two] == [mine[:2], mine[2:]]
    assert [len(p) for p in pages(api, "/webhooks", "admin", "subscriptions", 2)] == [2, 2]
    assert [len(p) for p in pages(api, "/webhooks", "edc", "subscriptions", 3)] == [3]
    # Another key's subscription is no cursor of this list, like any string that is not one.
    for bad in (theirs, "not-a-cursor"):
        problem = api.call("GET", "/webhooks", "edc", 422, params={"after": bad}).json()
        assert problem["field"] == "after"
