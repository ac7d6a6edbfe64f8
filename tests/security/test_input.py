"""Lax input refused over HTTP: strict JSON types, calendar dates, no control characters,
bounded strings and headers. Each refusal is a problem naming the field (or header), and
nothing is appended to the store. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest

from adapters.application import DoseLedger
from http_api import Api
from support import DAY0, enrolling

KEYS = {"admin": ("admin", None), "inv": ("investigator", "S01"), "src": ("src_member", None)}


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n - 1)).isoformat()


class Story:
    """A trial with one dosing patient at site S01, over HTTP."""

    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.api = Api(ledger, KEYS)
        self.trial_id = self.api.call(
            "POST", "/trials", "admin", 201, json={"template_id": "defactinib-avutometinib"}
        ).json()["id"]
        self.patient_id = self.api.call(
            "POST", f"/trials/{self.trial_id}/patients", "inv", 201, json=enrolling("S01")
        ).json()["id"]
        pid = self.patient_id
        eye = {"clinical_date": day(0), "bcva_right": "20/20", "bcva_left": "20/25"}
        self.api.call("POST", f"/patients/{pid}/eye-exams", "inv", 201, json=eye)
        skin = {"clinical_date": day(0), "findings": "none"}
        self.api.call("POST", f"/patients/{pid}/skin-exams", "inv", 201, json=skin)
        self.api.call("POST", f"/patients/{pid}/dosing", "inv", 201, json={"clinical_date": day(1)})

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def refused(
        self, path: str, body: dict[str, Any], field: str, status: int = 422, **kwargs: Any
    ) -> dict[str, Any]:
        """POST the body; the answer is a problem naming ``field``; nothing was recorded."""
        before = self.head()
        key = kwargs.pop("key", "inv")
        problem: dict[str, Any] = self.api.call(
            "POST", path, key, status, json=body, **kwargs
        ).json()
        assert problem["field"] == field, problem
        assert field in problem["detail"], problem
        assert self.head() == before
        return problem


@pytest.fixture
def story(ledger: DoseLedger) -> Story:
    return Story(ledger)


AE = {"term": "Nausea", "grade": 2, "onset": day(5), "attribution": "possible"}


@pytest.mark.parametrize(
    ("change", "field", "accepted"),
    [
        ({"grade": True}, "grade", "whole number"),
        ({"grade": "2"}, "grade", "whole number"),
        ({"grade": 2.0}, "grade", "whole number"),
        ({"serious": "yes"}, "serious", "true or false"),
        ({"serious": 1}, "serious", "true or false"),
        ({"onset": "2026-W46-3"}, "onset", "YYYY-MM-DD"),
        ({"onset": "2026-318"}, "onset", "YYYY-MM-DD"),
        ({"onset": 20260310}, "onset", "YYYY-MM-DD"),
        ({"term": "Nausea\x00"}, "term", "without control characters"),
        ({"term": "Nau\u0085sea"}, "term", "without control characters"),
        ({"term": "N" * 201}, "term", "at most 200"),
        ({"ctcae_version_reason": "why\x00"}, "ctcae_version_reason", "control characters"),
        ({"ctcae_version_reason": "a\tb"}, "ctcae_version_reason", "line breaks"),
        ({"ctcae_version_reason": "x" * 2001}, "ctcae_version_reason", "at most 2000"),
        (
            {"grade": None, "measurement": {"value": True, "uln": 200}},
            "measurement.value",
            "JSON number",
        ),
        ({"duration_days": "3"}, "duration_days", "whole number"),
    ],
)
def test_lax_adverse_event_fields_are_refused(
    story: Story, change: dict[str, Any], field: str, accepted: str
) -> None:
    problem = story.refused(f"/patients/{story.patient_id}/adverse-events", AE | change, field)
    assert accepted in problem["detail"], problem


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("skin-exams", {"clinical_date": day(0), "findings": "fine\x00"}, "findings"),
        ("doses", {"clinical_date": "2026-W10-3"}, "clinical_date"),
        ("missed-doses", {"clinical_date": day(3), "reason": "r" * 2001}, "reason"),
        (
            "dlt-outcome",
            {"outcome": "no_dlt", "clinical_date": day(28), "doses_taken_fraction": "1"},
            "doses_taken_fraction",
        ),
        (
            "dose-actions",
            {"action": "hold", "clinical_date": day(3), "reason": "=HYPERLINK(\x07)"},
            "reason",
        ),
    ],
)
def test_lax_patient_commands_are_refused(
    story: Story, path: str, body: dict[str, Any], field: str
) -> None:
    story.refused(f"/patients/{story.patient_id}/{path}", body, field)


def test_lax_trial_bodies_are_refused(story: Story) -> None:
    tid = story.trial_id
    decision = {"cohort": True, "decision": "escalate", "reason": "ok"}
    story.refused(f"/trials/{tid}/decisions", decision, "cohort", key="src")
    story.refused(f"/trials/{tid}/patients", enrolling("S01\x00"), "site_id")
    story.refused("/trials", {"template_id": "t" * 65}, "template_id", key="admin")


def _template() -> dict[str, Any]:
    text = resources.files("domain.data.protocols").joinpath("defactinib-avutometinib.json")
    data: dict[str, Any] = json.loads(text.read_text())
    return data


@pytest.mark.parametrize(
    ("change", "field", "accepted"),
    [
        # 5 MB is over the body limit (413, tests/security/test_errors.py); 5,000 is a long note.
        (lambda p: p["dose_levels"][0].update(note="n" * 5_000), "dose_levels.0.note", "2000"),
        (lambda p: p["dose_levels"][0].update(note="a\x00b"), "dose_levels.0.note", "control"),
        (lambda p: p["dose_levels"][0].update(level=True), "dose_levels.0.level", "integer"),
        (lambda p: p.update(dlt_window_days="28"), "dlt_window_days", "integer"),
        (lambda p: p.update(dlt_window_days=28.0), "dlt_window_days", "integer"),
        (
            lambda p: p["agents"][0].update(investigational="yes"),
            "agents.0.investigational",
            "bool",
        ),
    ],
)
def test_lax_protocols_are_refused(story: Story, change: Any, field: str, accepted: str) -> None:
    protocol = _template()
    change(protocol)
    problem = story.refused("/trials", {"protocol": protocol}, field, key="admin")
    assert accepted in problem["detail"]


def test_the_template_as_a_full_protocol_is_accepted(story: Story) -> None:
    story.api.call("POST", "/trials", "admin", 201, json={"protocol": _template()})


def test_free_text_may_hold_line_breaks(story: Story) -> None:
    body = {"clinical_date": day(3), "reason": "vomited\r\nthe tablet\nat 8:00"}
    story.api.call("POST", f"/patients/{story.patient_id}/missed-doses", "inv", 201, json=body)


@pytest.mark.parametrize("header", ["X-Request-ID", "X-Client-App"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a" * 129, "at most 128"),
        ("=1+2", "'='"),
        ("app;rm", "';'"),
        ("caf\u00e9", "is not accepted"),
    ],
)
def test_stored_headers_too_long_or_outside_the_safe_charset_are_refused(
    story: Story, header: str, value: str, why: str
) -> None:
    before = story.head()
    headers = {header: value.encode("utf-8")}
    body = {"clinical_date": day(2)}
    response = story.api.call(
        "POST", f"/patients/{story.patient_id}/doses", "inv", 400, json=body, headers=headers
    )
    problem = response.json()
    assert problem["field"] == header
    assert problem["detail"].startswith(f"{header}: ") and why in problem["detail"], problem
    assert "letters, digits" in problem["detail"] or "128" in problem["detail"]
    assert response.headers["x-request-id"] != value
    assert story.head() == before
    # A 60 kB header is refused on a read too, before any work.
    story.api.call("GET", "/trials", "inv", 400, headers={header: "x" * 60_000})


def test_safe_headers_are_stored_on_the_events(story: Story) -> None:
    headers = {"X-Request-ID": "req-1:a/b@c.d_e", "X-Client-App": "Site EDC/2.1 @S01"}
    body = {"clinical_date": day(2)}
    story.api.call(
        "POST", f"/patients/{story.patient_id}/doses", "inv", 201, json=body, headers=headers
    )
    last = story.api.call("GET", f"/patients/{story.patient_id}/timeline", "inv", 200)
    assert last.status_code == 200
    audit = story.api.call("GET", f"/trials/{story.trial_id}/audit", "admin", 200).json()["rows"]
    assert any(
        r["request_id"] == "req-1:a/b@c.d_e" and r["client"] == "Site EDC/2.1 @S01" for r in audit
    )
