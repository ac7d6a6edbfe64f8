"""Cursor pagination of every list: trials, webhooks, audit trail, timeline, reminders,
deliveries: after, limit, next."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from test_http_story import day, ready

from adapters.application import DoseLedger
from domain.reminder_schedule import Reminder
from http_api import Api
from support import enrolling

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
KEYS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", None),
    "monitor": ("monitor", None),
    "auditor": ("auditor", None),
    "edc": ("integration", None),
    "crm": ("integration", None),
}


@pytest.fixture
def api(ledger: DoseLedger) -> Api:
    return Api(ledger, KEYS)


def pages(
    api: Api, path: str, key: str, name: str, limit: int, **query: Any
) -> list[list[dict[str, Any]]]:
    found, after = [], None
    while True:
        params: dict[str, Any] = query | {"limit": limit}
        if after is not None:
            params["after"] = after
        page = api.call("GET", path, key, 200, params=params).json()
        assert {name, "next"} <= set(page)
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


def paged_as_whole(
    api: Api, path: str, key: str, name: str, whole: dict[str, Any], **query: Any
) -> None:
    """Pages of 1, 2 and 3 items hold the whole list's items, in order, once each; the last
    page's ``next`` is null; a bad cursor or limit is a 422."""
    assert whole["next"] is None and len(whole[name]) >= 3
    for limit in (1, 2, 3):
        found = pages(api, path, key, name, limit, **query)
        assert all(0 < len(p) <= limit for p in found)
        assert [item for p in found for item in p] == whole[name]
    (one,) = pages(api, path, key, name, len(whole[name]), **query)
    assert one == whole[name]
    for bad in ("x", "-1", "1" * 30, "1.2.3.4"):
        problem = api.call("GET", path, key, 422, params=query | {"after": bad}).json()
        assert problem["field"] == "after"
    for bad_limit in (0, 1001):
        api.call("GET", path, key, 422, params=query | {"limit": bad_limit})
    api.call("GET", path, key, 200, params=query | {"limit": 1000})


@pytest.fixture
def story(ledger: DoseLedger) -> Iterator[tuple[Api, str, str]]:
    """A trial with a patient enrolled, examined and dosed at S01, and one enrolled at S02."""
    api = Api(ledger, KEYS | {"inv": ("investigator", "S01"), "inv2": ("investigator", "S02")})
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    pid = ready(api, tid)  # type: ignore[arg-type]  # the same calls as its Api
    for n in (2, 3):
        api.call("POST", f"/patients/{pid}/doses", "inv", 201, json={"clinical_date": day(n)})
    api.call("POST", f"/trials/{tid}/patients", "inv2", 201, json=enrolling("S02"))
    yield api, tid, pid


def test_audit_trail_pages_by_position(story: tuple[Api, str, str]) -> None:
    api, tid, _ = story
    path = f"/trials/{tid}/audit"
    whole = api.call("GET", path, "auditor", 200).json()
    assert set(whole) == {"rows", "next"}
    positions = [row["position"] for row in whole["rows"]]
    assert positions == sorted(set(positions))
    paged_as_whole(api, path, "auditor", "rows", whole)
    # as_of and paging together: the pages of the trail as it was.
    cut = whole["rows"][3]["recorded_at"]
    earlier = api.call("GET", path, "auditor", 200, params={"as_of": cut}).json()
    assert earlier["rows"] == [r for r in whole["rows"] if r["recorded_at"] <= cut]
    paged_as_whole(api, path, "auditor", "rows", earlier, as_of=cut)
    first = api.call("GET", path, "auditor", 200, params={"limit": 2}).json()
    assert first["rows"] == whole["rows"][:2] and first["next"] == str(positions[1])


def test_patient_timeline_pages_its_entries(story: tuple[Api, str, str]) -> None:
    api, _, pid = story
    path = f"/patients/{pid}/timeline"
    whole = api.call("GET", path, "inv", 200).json()
    keys = [(e["position"], e["seq"]) for e in whole["entries"]]
    assert keys == sorted(set(keys)) and len(keys) >= 5
    assert "dose" in {e["kind"] for e in whole["entries"]}  # the doses' rows merged in
    paged_as_whole(api, path, "inv", "entries", whole)
    first = api.call("GET", path, "inv", 200, params={"limit": 2}).json()
    assert {k: v for k, v in first.items() if k not in ("entries", "next")} == {
        k: v for k, v in whole.items() if k not in ("entries", "next")
    }
    assert first["next"] == "{}.{}".format(*keys[1])
    for bad in ("1", "1.x", "1.2.3"):
        problem = api.call("GET", path, "inv", 422, params={"after": bad}).json()
        assert problem["field"] == "after"
    api.call("GET", path, "inv2", 404, params={"after": "x"})  # not the caller's: no answer


def test_webhook_deliveries_page_newest_first(api: Api) -> None:
    body = {"url": "https://edc.example.org/hooks", "name": "EDC"}
    sid = api.call("POST", "/webhooks", "edc", 201, json=body).json()["id"]
    path = f"/webhooks/{sid}/deliveries"
    assert api.call("GET", path, "edc", 200).json() == {"deliveries": [], "next": None}
    issued = []
    for n in range(5):
        at = T0 + dt.timedelta(hours=n)
        reminder = Reminder(
            id=uuid4(), kind="src_decision_due", patient_id=None, trial_id=uuid4(), due_at=at,
            fired_at=at,
        )  # fmt: skip
        api.ledger.record(reminder)
        issued.append(str(reminder.id))
    whole = api.call("GET", path, "edc", 200).json()
    assert [d["reminder_id"] for d in whole["deliveries"]] == issued[::-1]
    paged_as_whole(api, path, "edc", "deliveries", whole)
    api.call("GET", path, "crm", 404, params={"after": "x"})  # not the caller's: no answer
