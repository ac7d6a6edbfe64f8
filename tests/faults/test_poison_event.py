"""A stored event the read models cannot process (its class was renamed and the old topic not
registered: a known pitfall) stops the read model that takes it, and only that one (the
audit trail: the event class is one that only the audit trail reads, so the fix changes
no other read model and the end state is a rebuild's): the
others, the HTTP reads of them and the reminders go on; /readyz, the metric, the log and
``projections failures`` say which and where; after the fix, ``projections retry`` resumes
from the failed event and catches up, as a rebuild would."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from uuid import UUID

import pytest
import structlog
from eventsourcing.utils import _topic_cache, register_topic, resolve_topic

from adapters.application import DoseLedger
from adapters.bootstrap import build_read_models, build_reminders
from adapters.scheduler import issue_due_reminders
from cli_runner import CliRunner
from domain.protocol import template
from domain.reminder_schedule import start_of
from http_api import Api
from projections.failures import failure_of, record
from support import ae, day, dosing

RENAMED = "Before-the-rename"
SITE_ZONE = "doseledger:trial.SiteTimeZoneRecorded"


@pytest.fixture
def api(ledger: DoseLedger) -> Iterator[Api]:
    found = Api(ledger, {"monitor": ("monitor", None), "auditor": ("auditor", None)})
    with found.client:  # the lifespan: the app follows the log as `serve` does
        yield found


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("DOSELEDGER_USER", "cli-tester")
    return CliRunner(capsys)


@pytest.fixture
def old_topic() -> Iterator[str]:
    """The topic an older build stored an AE under; the fix registers it (then undone)."""
    topic = f"{SITE_ZONE}{RENAMED}"
    yield topic
    _topic_cache.pop(topic, None)


def poison(ledger: DoseLedger, trial: UUID, topic: str) -> int:
    """Store the trial's site time zone again as its next version, under an unknown topic."""
    events = ledger.recorder.select_events(trial)
    (zone,) = [e for e in events if e.topic == SITE_ZONE]
    stored = dataclasses.replace(
        zone, originator_version=events[-1].originator_version + 1, topic=topic
    )
    ledger.recorder.insert_events([stored])
    return ledger.recorder.max_notification_id() or 0


def test_a_poison_event_stops_one_read_model_and_a_retry_after_the_fix_catches_it_up(
    ledger: DoseLedger, api: Api, cli: CliRunner, old_topic: str
) -> None:
    sick, (patient,) = dosing(ledger, template("defactinib-avutometinib"), count=1)
    ae(ledger, patient, "Fatigue", 1, 3)
    well, (other,) = dosing(ledger, template("defactinib-paclitaxel"), count=1)
    assert api.call("GET", "/readyz", None, 200).json()["status"] == "ready"

    with structlog.testing.capture_logs() as logs:
        at = poison(ledger, sick, old_topic)
        ae(ledger, other, "Nausea", 2, 4)  # after the poison: the other models take it
        for _ in range(3):
            api.call("GET", f"/trials/{well}/cohorts", "monitor", 200)
    stopped_lines = [line for line in logs if line["event"].startswith("read model stopped")]
    assert [line["read_model"] for line in stopped_lines] == ["audit_trail"]  # once
    assert stopped_lines[0]["position"] == at and stopped_lines[0]["topic"] == old_topic

    answer = api.client.get("/readyz")  # plain JSON, as when the read models lag
    assert answer.status_code == 503
    ready = answer.json()
    assert ready["status"] == "read models stopped"
    assert f"audit_trail stopped at event {at}" in ready["detail"]
    assert [s["read_model"] for s in ready["stopped"]] == ["audit_trail"]

    # The stopped read model answers 503 with the reason, for every trial; the others answer.
    for trial in (sick, well):
        refused = api.call("GET", f"/trials/{trial}/audit", "auditor", 503).json()
        assert refused["type"].endswith("/read-model-stopped")
        assert "audit_trail" in refused["detail"] and str(at) in refused["detail"]
    table = api.call("GET", f"/trials/{well}/safety-table", "monitor", 200).json()
    assert "Nausea" in {row["term"] for row in table["terms"]}
    api.call("GET", f"/trials/{sick}/cohorts", "monitor", 200)
    api.call("GET", f"/patients/{other}/timeline", "monitor", 200)
    api.call("GET", "/reminders", "monitor", 200, params={"trial_id": str(well)})
    metrics = api.call("GET", "/metrics", "monitor", 200).text
    assert 'doseledger_read_model_stopped{read_model="audit_trail"} 1.0' in metrics
    assert 'doseledger_read_model_stopped{read_model="cohort_summary"} 0.0' in metrics

    # The audit export reads the stopped trail: refused (HTTP 503, CLI exit 2), never stale.
    api.call("GET", f"/trials/{well}/exports/audit", "auditor", 503)
    code, out, err = cli.run("audit", "export", str(well), "--format", "csv")
    assert (code, out) == (2, "") and "audit_trail is stopped" in err
    assert len(err.strip().splitlines()) == 1
    assert cli.json("trials")  # the trial list reads the overview, which is fed

    # The reminders tick reads the reminder index, which is fed: it issues what is due.
    live = api.app.state.read_models
    with build_reminders(ledger, read_models=live) as reminders:
        due = reminders.due(start_of(day(40)))
        assert {r.trial_id for r in due} == {sick, well}  # the sick trial's too
        issue_due_reminders(ledger, lambda: start_of(day(40)), read_models=live)
        assert all(reminders.issued(r.id) for r in due)

    listed = cli.json("projections", "failures")
    (failure,) = listed["failures"]
    assert failure["read_model"] == "audit_trail" and failure["position"] == at
    assert failure["originator_id"] == str(sick) and failure["topic"] == old_topic
    assert "TopicError" in failure["error"]

    # Retried before the fix: it fails again on the same event, exit 1, still listed.
    code, out, _ = cli.run("projections", "retry")
    assert code == 1 and '"audit_trail"' in out
    assert cli.json("projections", "failures")["failures"][0]["position"] == at

    register_topic(old_topic, resolve_topic(SITE_ZONE))  # the fix
    retried = cli.json("projections", "retry", "--read-model", "audit_trail")
    assert retried["retried"] == ["audit_trail"] and retried["failures"] == []
    head = ledger.recorder.max_notification_id()
    assert set(retried["positions"].values()) == {head}
    assert api.call("GET", "/readyz", None, 200).json()["status"] == "ready"
    rows = api.call("GET", f"/trials/{sick}/audit", "auditor", 200).json()["rows"]
    assert at in {row["position"] for row in rows}
    assert cli.json("projections", "check")["equal"] is True  # as a rebuild: nothing lost


def test_retry_refuses_an_unknown_or_running_read_model_with_one_line(
    ledger: DoseLedger, cli: CliRunner
) -> None:
    dosing(ledger, template("defactinib-avutometinib"), count=1)
    assert "no read model 'nope'" in cli.refused("projections", "retry", "--read-model", "nope")
    line = cli.refused("projections", "retry", "--read-model", "cohort_summary")
    assert "cohort_summary is not stopped" in line
    assert cli.json("projections", "failures") == {"failures": [], "stopped": []}


def test_while_the_reminder_index_is_stopped_the_tick_issues_nothing_and_says_why(
    ledger: DoseLedger, cli: CliRunner
) -> None:
    dosing(ledger, template("defactinib-avutometinib"), count=1)
    read_models = build_read_models(cli_url())
    try:
        read_models.catch_up()
        failure = failure_of(
            "cohort_summary", 1, "doseledger:trial.Registered", "t", 1, ValueError("a bug")
        )
        record(read_models.store, [failure])
    finally:
        read_models.close()

    for command in ("due", "tick"):
        code, out, err = cli.run("reminders", command, "--at", "2026-04-20T00:00:00Z")
        assert (code, out) == (1, "")
        assert err.strip().count("\n") == 0 and "reads from cohort_summary" in err
    issue_due_reminders(ledger, lambda: start_of(day(40)))  # logs why, does not raise
    assert cli.json("projections", "retry")["retried"] == ["cohort_summary"]
    due = reminders_due(cli)  # the index is fed again: what fell due meanwhile is there
    assert due and not any(ledger.recorder.select_events(r, limit=1) for r in due)


def cli_url() -> str:
    return os.environ["DOSELEDGER_DATABASE_URL"]


def reminders_due(cli: CliRunner) -> list[UUID]:
    found = cli.json("reminders", "due", "--at", "2026-04-20T00:00:00Z")
    return [UUID(r["id"]) for r in found]
