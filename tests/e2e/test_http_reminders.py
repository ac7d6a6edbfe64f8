"""Reminders over HTTP: GET /reminders with its filters, on-treatment eye exams, the event feed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from test_http_story import Api, day, ready

from adapters.application import DoseLedger
from adapters.bootstrap import build_reminders
from domain.reminder_schedule import start_of
from support import DAY0, enrolling


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    yield Api(ledger)


def listing(api: Api, key: str = "monitor", **params: Any) -> list[dict[str, Any]]:
    page = api.call("GET", "/reminders", key, 200, params=params).json()
    assert page["next"] is None, "a listing here fits one page"
    found: list[dict[str, Any]] = page["reminders"]
    return found


def test_reminders_filtered_by_trial_patient_kind_state_and_due_time(
    api: Api, ledger: DoseLedger
) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    dosed = ready(api, tid)
    waiting = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv",
        201,
        json=enrolling("S01"),
    ).json()["id"]
    other_site = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv2",
        201,
        json=enrolling("S02"),
    ).json()["id"]

    everything = listing(api, trial_id=tid, state="open")
    assert {(r["patient_id"], r["kind"]) for r in everything} == {
        (dosed, "dlt_window_end"),
        (dosed, "ophthalmology_follow_up"),
        (waiting, "ophthalmology_baseline"),
        (other_site, "ophthalmology_baseline"),
    }
    assert [r["due_at"] for r in everything] == sorted(r["due_at"] for r in everything)
    (cleared,) = listing(api, trial_id=tid, state="cleared")
    assert (cleared["patient_id"], cleared["kind"]) == (dosed, "ophthalmology_baseline")
    assert len(listing(api, trial_id=tid)) == len(everything) + 1  # every state
    baseline = listing(api, kind="ophthalmology_baseline", state="due")
    assert {r["patient_id"] for r in baseline} == {waiting, other_site}
    assert {r["state"] for r in baseline} == {"due"}
    assert [r["kind"] for r in listing(api, patient_id=dosed, kind="dlt_window_end")] == [
        "dlt_window_end"
    ]
    # The story's clinical dates are in March 2026; the baseline exams fell due at enrolment.
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    early = {r["kind"] for r in listing(api, trial_id=tid, state="open", due_before=cutoff)}
    assert "dlt_window_end" in early and "ophthalmology_baseline" not in early
    assert listing(api, trial_id=tid, due_before=start_of(DAY0).isoformat()) == []
    # An investigator sees its own site's patients only.
    assert {r["patient_id"] for r in listing(api, "inv", trial_id=tid)} == {dosed, waiting}
    assert {r["patient_id"] for r in listing(api, "inv2", trial_id=tid)} == {other_site}
    assert listing(api, "inv", patient_id=other_site) == []

    # Issued by a tick: listed as issued, with its firing time, and in the event feed.
    with build_reminders(ledger) as reminders:
        fired = reminders.tick(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert fired
    issued = listing(api, trial_id=tid, state="issued")
    assert {r["id"] for r in issued} == {str(r.id) for r in fired}
    assert all(r["fired_at"].startswith("2100-01-01") for r in issued)
    feed = api.call("GET", "/events", "monitor", 200, params={"limit": 1000}).json()
    kinds = [e for e in feed["events"] if e["aggregate"] == "reminder"]
    assert {e["aggregate_id"] for e in kinds} == {str(r.id) for r in fired}
    assert {e["type"] for e in kinds} == {"Issued"}


def test_baseline_exam_clears_its_reminder_and_follow_up_exam_moves_the_cycle(api: Api) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    pid = ready(api, tid)
    assert listing(api, patient_id=pid, kind="ophthalmology_baseline", state="open") == []
    (follow_up,) = listing(api, patient_id=pid, kind="ophthalmology_follow_up", state="open")
    api.call(
        "POST",
        f"/patients/{pid}/eye-exams",
        "inv",
        201,
        json={
            "clinical_date": follow_up["due_at"][:10],  # the current cycle's, on its due day
            "purpose": "follow_up",
            "bcva_right": "20/20",
            "bcva_left": "20/20",
        },
    )
    (moved,) = listing(api, patient_id=pid, kind="ophthalmology_follow_up", state="open")
    due = dt.datetime.fromisoformat(follow_up["due_at"])
    assert dt.datetime.fromisoformat(moved["due_at"]) == due + dt.timedelta(days=28)
    timeline = api.call("GET", f"/patients/{pid}/timeline", "inv", 200).json()
    assert "follow-up eye exam" in str(timeline)


def test_bad_eye_exams_and_bad_filters_are_4xx_and_append_nothing(
    api: Api, ledger: DoseLedger
) -> None:
    tid = api.call(
        "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
    ).json()["id"]
    waiting = api.call(
        "POST",
        f"/trials/{tid}/patients",
        "inv",
        201,
        json=enrolling("S01"),
    ).json()["id"]
    before = ledger.recorder.max_notification_id()
    exam = {"clinical_date": day(3), "bcva_right": "20/20", "bcva_left": "20/20"}
    refused = api.call(
        "POST", f"/patients/{waiting}/eye-exams", "inv", 422, json=exam | {"purpose": "referral"}
    ).json()
    assert refused["rule"] == "dosing_not_started"
    wrong = api.call(
        "POST", f"/patients/{waiting}/eye-exams", "inv", 422, json=exam | {"purpose": "yearly"}
    ).json()
    assert "purpose" in str(wrong)
    assert ledger.recorder.max_notification_id() == before
    for params in (
        {"kind": "dentist"},
        {"state": "late"},
        {"due_before": "soon"},
        {"due_before": "0.5"},
        {"limit": 0},
        {"after": "7"},
        {"after": "1.x"},
        {"after": f"1.{2**128}"},
    ):
        problem = api.call("GET", "/reminders", "monitor", 422, params=params).json()
        assert next(iter(params)) in str(problem)
    api.call("GET", "/reminders", None, 401)


def walk(api: Api, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every reminder read ``limit`` at a time, following ``next``."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        query = params | {"limit": limit} | ({} if after is None else {"after": after})
        page = api.call("GET", "/reminders", "monitor", 200, params=query).json()
        assert len(page["reminders"]) <= limit
        found += page["reminders"]
        after = page["next"]
        if after is None:
            return found


def test_reminders_page_in_the_order_shown_even_where_a_follow_up_moved_on(api: Api) -> None:
    """A dosed patient's open follow-up row is stored at its first cycle but shows the cycle
    current now (months later): pages follow the order shown, never the stored one."""
    dosed = []
    for _ in range(2):  # two trials of a full first cohort: two dosed, one waiting
        tid = api.call(
            "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
        ).json()["id"]
        dosed += [ready(api, tid) for _ in range(2)]
        api.call("POST", f"/trials/{tid}/patients", "inv", 201, json=enrolling("S01"))
    whole = listing(api)
    shown = [(dt.datetime.fromisoformat(r["due_at"]), r["id"]) for r in whole]
    assert shown == sorted(shown) and len(set(shown)) == len(shown)
    follow_ups = [r for r in whole if r["kind"] == "ophthalmology_follow_up"]
    assert {r["patient_id"] for r in follow_ups} == set(dosed)
    # Moved on: the rows are stored at the first cycle (March), they show the current one.
    assert all(r["due_at"] > "2026-04" for r in follow_ups)
    for limit in (1, 2, 3, len(whole)):
        assert walk(api, limit) == whole
    assert walk(api, 2, state="open") == listing(api, state="open")
    # A cursor past the end is an empty last page.
    last = whole[-1]
    page = api.call(
        "GET",
        "/reminders",
        "monitor",
        200,
        params={"limit": 1, "after": walk_cursor(api, len(whole) - 1)},
    ).json()
    assert page["reminders"] == [last] and page["next"] is None


def walk_cursor(api: Api, count: int) -> str:
    """The cursor after the first ``count`` reminders."""
    page = api.call("GET", "/reminders", "monitor", 200, params={"limit": count}).json()
    cursor: str = page["next"]
    return cursor
