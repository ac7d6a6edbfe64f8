"""Read models on SQLite and PostgreSQL: exactly once, restartable, rebuildable, and correct."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger, build_read_models
from adapters.demo import record_demo_trial
from adapters.read_models import service_read_models
from domain.actors import Actor
from domain.errors import NotFound
from domain.patient import Patient
from domain.protocol import template
from domain.trial import Trial
from projections.audit_rows import audit_row
from projections.parallel_rebuild import FIRST_GROUP, second_group
from projections.parallel_rebuild import run as run_second_process
from projections.read_models import ReadModels, default_read_models
from projections.row_statements import RowStatement
from projections.store import SQLiteStore, Transaction
from support import ADMIN, DAY0, INVESTIGATOR, SRC, ae, day, dosing

AVU = "defactinib-avutometinib"
TRACED = Actor(
    user_id="inv-7", role="investigator", name="Dr Trace", client="tests", request_id="req-0042"
)
# The fields a cohort row shares with DoseLedger.trial(id)["cohorts"].
COHORT_FIELDS = (
    "cohort",
    "level",
    "dose",
    "origin",
    "enrolled",
    "evaluable",
    "not_evaluable",
    "dlts",
    "recommendation",
    "decision",
    "signed_by",
    "reason",
)


def complete(ledger: DoseLedger, pid: UUID) -> None:
    ledger.record_dlt_window_outcome(pid, "no_dlt", day(28), INVESTIGATOR)


def toxicity_story(ledger: DoseLedger) -> tuple[UUID, list[UUID]]:
    """Three patients: a fatigue graded 2 → 3 → resolved with a hold and a resumption, a
    nausea DLT candidate the SRC confirms, doses, late AEs; the cohort ends fully evaluated
    and undecided (its recommendation is live)."""
    trial_id, (p1, p2, p3) = dosing(ledger, template(AVU), count=3)
    ledger.administer_dose(p1, day(2), TRACED)
    fatigue = UUID(ae(ledger, p1, "Fatigue", 2, 3, attribution="unrelated")["ae_id"])
    ledger.change_ae_grade(p1, fatigue, 3, day(5), TRACED, reason="worse at the visit")
    ledger.record_dose_action(p1, "hold", day(5), TRACED, ae_id=fatigue)
    ledger.change_ae_grade(p1, fatigue, 0, day(9), TRACED)
    ledger.record_dose_action(p1, "resume", day(10), TRACED)
    ledger.administer_dose(p1, day(11), TRACED)
    nausea = UUID(ae(ledger, p2, "Nausea", 3, 4)["ae_id"])  # an exception class: a candidate
    ledger.adjudicate_dlt(trial_id, p2, nausea, True, SRC, reason="not controlled in 72 h")
    ae(ledger, p3, "Fatigue", 1, 6)
    complete(ledger, p1)
    complete(ledger, p3)
    ae(ledger, p1, "Fatigue", 2, 35)  # a second episode after the window: not worse than 3
    return trial_id, [p1, p2, p3]


def all_events(ledger: DoseLedger) -> list[tuple[int, Any]]:
    notifications = ledger.recorder.select_notifications(None, 100_000)
    return [(n.id, ledger.mapper.to_domain_event(n)) for n in notifications]


@pytest.fixture
def stories(ledger: DoseLedger) -> dict[str, UUID]:
    demo = record_demo_trial(ledger)
    toxic, patients = toxicity_story(ledger)
    return {"demo": demo, "toxic": toxic, "p1": patients[0], "p2": patients[1]}


@pytest.fixture
def open_projections(database_url: str) -> Iterator[Any]:
    opened: list[ReadModels] = []

    def make(batch_size: int = 1000) -> ReadModels:
        projections = build_read_models(database_url, batch_size=batch_size)
        opened.append(projections)
        return projections

    yield make
    for projections in opened:
        projections.close()


def scratch(ledger: DoseLedger, folder: Path, *, batch_size: int = 1000) -> ReadModels:
    """Read models of the same events in a separate SQLite file (the service's read models, as
    ``build_read_models`` opens them)."""
    return ReadModels(
        ledger,
        SQLiteStore(str(folder / "scratch.db")),
        batch_size=batch_size,
        models=service_read_models,
    )


# ----------------------------------------------------------------- follower


def test_a_run_stopped_midway_and_restarted_equals_one_run_and_a_rebuild(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any, tmp_path: Path
) -> None:
    head = ledger.recorder.max_notification_id()
    assert head is not None and head > 140
    first = open_projections(batch_size=7)

    def stop_after_40(processed: int, position: int, last: int) -> None:
        if processed >= 40:
            first.stop()

    result = first.catch_up(stop_after_40)
    assert 40 <= result["processed"] < 50
    assert set(first.positions().values()) == {result["position"]}
    first.close()

    restarted = open_projections(batch_size=7)  # new objects, as after a process restart
    assert restarted.catch_up()["position"] == head
    resumed = restarted.dump()

    whole = scratch(ledger, tmp_path, batch_size=1000)  # one uninterrupted run
    try:
        assert whole.catch_up() == {"processed": head, "position": head, "workers": 1}
        assert whole.dump() == resumed
    finally:
        whole.close()

    rebuilt = restarted.rebuild(workers=1)
    assert rebuilt["events"] == head and rebuilt["rows"]["audit"] == head
    assert restarted.dump() == resumed
    assert restarted.check().equal


def test_processing_twice_changes_nothing(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    before = projections.dump()
    assert projections.catch_up()["processed"] == 0
    other = open_projections(batch_size=5)  # a second follower (another process) skips it all
    assert other.catch_up()["processed"] == 0
    assert projections.dump() == before == other.dump()


def test_two_followers_taking_turns_match_a_rebuild(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    one, two = open_projections(batch_size=9), open_projections(batch_size=4)
    head = ledger.recorder.max_notification_id() or 0
    for until in range(30, head + 30, 30):
        # Each finds the other's progress, drops its caches and goes on from there.
        (one if until % 60 else two).catch_up(until=until)
    assert set(two.positions().values()) == {head}
    assert one.check().equal and two.check().equal


@pytest.mark.parametrize("fault", ["handler", "tracking"])
def test_a_failure_inside_a_batch_moves_neither_the_view_nor_the_tracking(
    ledger: DoseLedger,
    stories: dict[str, UUID],
    open_projections: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    projections = open_projections(batch_size=50)
    if fault == "handler":  # mid-batch, after other models already queued their rows
        audit = next(m for m in projections.models if m.name == "audit_trail")
        original = audit.handle_stored

        def failing(position: int, stored: Any) -> None:
            if position == 85:
                raise RuntimeError("injected")
            original(position, stored)

        monkeypatch.setattr(audit, "handle_stored", failing)
    else:  # every view written in the transaction; then the tracking update fails
        original_many = Transaction.executemany

        def failing_many(self: Transaction, statement: str | RowStatement, rows: Any) -> None:
            sql = statement.sql if isinstance(statement, RowStatement) else statement
            if "tracking" in sql and "UPDATE" in sql and rows and rows[0][0] > 60:
                raise RuntimeError("injected")
            original_many(self, statement, rows)

        monkeypatch.setattr(Transaction, "executemany", failing_many)
    projections.catch_up(until=60)
    before = projections.dump()

    if fault == "handler":  # the audit trail stops at 85; the others go on to the end
        projections.catch_up()
        after = projections.dump()
        assert after["audit"] == before["audit"]
        positions = projections.positions()
        assert positions.pop("audit_trail") == 60
        assert set(positions.values()) == {ledger.recorder.max_notification_id()}
        (failure,) = projections.failures()
        assert (failure.read_model, failure.position) == ("audit_trail", 85)
    else:
        with pytest.raises(RuntimeError, match="injected"):
            projections.catch_up()
        assert projections.dump() == before
        assert set(projections.positions().values()) == {60}

    monkeypatch.undo()
    projections = open_projections(batch_size=50)
    projections.retry()
    projections.catch_up()
    assert projections.check().equal


def test_a_parallel_rebuild_equals_a_single_process_one(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections(batch_size=25)
    single = projections.rebuild(workers=1)
    expected = projections.dump()
    parallel = projections.rebuild(workers=2)  # the models outside FIRST_GROUP: a second process
    assert (single["workers"], parallel["workers"]) == (1, 2)
    assert parallel["rows"] == single["rows"]
    assert projections.dump() == expected


def test_the_second_process_of_a_rebuild_follows_the_default_models_outside_the_first_group(
    open_projections: Any,
) -> None:
    projections = open_projections()
    second = second_group(projections)
    # The models it builds as this process does; a service's own (the aggregate index) stays.
    assert "aggregate_index" in projections.names and "aggregate_index" not in second
    assert second == [
        m.name for m in default_read_models(projections.store) if m.name not in FIRST_GROUP
    ]
    # Each model on the side of those it looks things up in.
    for model in projections.models:
        for looked_up in projections.runner.reads_from[model.name]:
            assert (looked_up in second) == (model.name in second)


def test_no_second_process_when_a_model_would_look_up_one_on_the_other_side(
    open_projections: Any,
) -> None:
    def audit_trail_reading_the_directory(store: Any) -> list[Any]:
        models = default_read_models(store)
        by_name = {m.name: m for m in models}
        by_name["audit_trail"].directory = by_name["directory"]  # a look-up across the groups
        return models

    opened = open_projections()
    projections = ReadModels(
        opened.source,
        opened.store,
        models=audit_trail_reading_the_directory,
        reopen=opened.reopen,
        env=opened.env,
    )
    assert second_group(projections) == []
    assert projections.rebuild(workers=2)["workers"] == 1


def test_the_second_process_refuses_a_read_model_it_does_not_have(
    open_projections: Any,
) -> None:
    projections = open_projections()
    assert projections.env is not None and projections.reopen is not None
    request = {
        "source": f"{projections.reopen.__module__}:{projections.reopen.__qualname__}",
        "env": projections.env,
        "names": ["directory", "aggregate_index"],
        "batch_size": 100,
        "cache_size": 100,
        "until": None,
        "bulk": False,
    }
    with pytest.raises(ValueError, match="no read model called aggregate_index"):
        run_second_process(request)
    assert projections.positions()["directory"] == 0  # nothing followed


def test_only_models_that_take_domain_events_have_events_decoded_once_each(
    ledger: DoseLedger,
    stories: dict[str, UUID],
    open_projections: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The audit trail and the dose rows read every event as stored: a dose (three events in
    # five in a real trial) is decoded by no follower, any other event once for all models.
    projections = open_projections(batch_size=40)
    events = all_events(ledger)
    decoded: list[tuple[str, int]] = []
    mapper = projections.source.mapper
    to_domain_event = mapper.to_domain_event

    def counting(notification: Any) -> Any:
        decoded.append((notification.topic, notification.id))
        return to_domain_event(notification)

    monkeypatch.setattr(mapper, "to_domain_event", counting)
    projections.catch_up()
    doses = {p for p, e in events if isinstance(e, Patient.DoseAdministered)}
    assert doses and not doses & {position for _, position in decoded}
    # A site's time zone is read as stored too (by the audit trail only).
    zones = {p for p, e in events if isinstance(e, Trial.SiteTimeZoneRecorded)}
    assert zones and not zones & {position for _, position in decoded}
    assert len(decoded) == len(set(decoded)) == len(events) - len(doses) - len(zones)
    rows = projections.dump()["timeline_doses"]
    assert [row[0] for row in rows] == sorted(doses)


def test_an_event_stored_by_an_older_class_version_is_upcast_for_the_stored_models(
    ledger: DoseLedger,
    stories: dict[str, UUID],
    open_projections: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stored as version 1; the class now at version 2 upcasts: the stored path leaves such
    # events to the mapper, so the dose rows see what the domain event says.
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["agents"] = [*state["agents"], "upcast"]

    monkeypatch.setattr(Patient.DoseAdministered, "class_version", 2, raising=False)
    monkeypatch.setattr(
        Patient.DoseAdministered, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False
    )
    projections = open_projections()
    projections.catch_up()
    timeline = projections.queries.patient_timeline(stories["p1"])
    doses = [e["summary"] for e in timeline["entries"] if e["kind"] == "dose"]
    assert doses and all(summary.endswith(", upcast") for summary in doses)
    assert all(r["summary"].endswith(", upcast") for r in projections.queries.audit_trail(
        stories["toxic"]) if r["event"] == "DoseAdministered")  # fmt: skip
    # A follower of the audit trail and the dose rows alone (a parallel rebuild's first group)
    # decodes no domain event otherwise, and reads the ids as stored: the mapper takes those too.
    audit_group = set(FIRST_GROUP)
    alone = ReadModels(
        projections.source,
        projections.store,
        models=lambda store: [m for m in default_read_models(store) if m.name in audit_group],
    )
    alone.rebuild(workers=1)
    rows = alone.dump()["timeline_doses"]
    assert rows and all(row[3].endswith(", upcast") for row in rows)


def test_events_recorded_later_are_caught_up(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    trial_id = ledger.register_trial(template(AVU), ADMIN)
    assert projections.catch_up()["processed"] == 1
    assert projections.queries.trial_overview(trial_id)["patients"] == 0
    pid = ledger.enrol_patient(trial_id, "S02", INVESTIGATOR, enrolment_date=DAY0)
    # trial.SiteTimeZoneRecorded (S02's first enrolment), trial.PatientEnrolled, patient.Enrolled
    assert projections.catch_up()["processed"] == 3
    assert projections.queries.trial_overview(trial_id)["patients"] == 1
    assert projections.queries.patient_timeline(pid)["entries"][0]["kind"] == "enrolled"
    assert projections.check().equal


@pytest.mark.postgres
def test_postgres_position_gaps_are_followed(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.persistence.environment import persistence_env

    app = build_ledger(env=persistence_env(postgres_url))
    projections = build_read_models(postgres_url, batch_size=10)
    try:
        trial_id, _ = dosing(app, template(AVU), count=2)
        with projections.store.transaction() as tx:  # burn ids: a gap, as a rollback leaves
            schema = postgres_url.rsplit("schema=", 1)[1]
            tx.execute(
                f"SELECT setval('\"{schema}\".doseledger_events_notification_id_seq', "
                f'(SELECT MAX(notification_id) + 100 FROM "{schema}".doseledger_events))'
            )
        projections.catch_up()
        pid = app.enrol_patient(trial_id, "S02", INVESTIGATOR, enrolment_date=DAY0)
        ids = [n.id for n in app.recorder.select_notifications(None, 1000)]
        assert ids[-1] - ids[-4] > 100  # the gap is there (S02's zone, then the enrolment)
        projections.catch_up()
        assert len(projections.queries.audit_trail(trial_id)) == len(ids)
        assert projections.queries.patient_timeline(pid)["trial_id"] == str(trial_id)
        assert projections.check().equal
    finally:
        projections.close()
        app.close()


# ----------------------------------------------------------------- read models


def test_cohort_summary_equals_the_trial_aggregate(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections(batch_size=3)
    projections.catch_up()
    for trial_id in (stories["demo"], stories["toxic"]):
        trial = ledger.trial(trial_id)
        summary = projections.queries.cohort_summary(trial_id)
        assert len(summary["cohorts"]) == len(trial["cohorts"])
        for ours, theirs in zip(summary["cohorts"], trial["cohorts"], strict=True):
            assert {k: ours[k] for k in COHORT_FIELDS} == {k: theirs[k] for k in COHORT_FIELDS}
        assert summary["levels"] == trial["levels"]
    demo = projections.queries.cohort_summary(stories["demo"])["cohorts"]
    assert [c["decision"] for c in demo] == ["escalate", "expand", "de-escalate", "declare_mtd"]
    assert demo[0]["signed_by"] == "src-chair" and demo[0]["meaning"] == "approval"
    open_cohort = projections.queries.cohort_summary(stories["toxic"])["cohorts"][0]
    assert (open_cohort["recommendation"], open_cohort["decision"]) == ("expand", None)


def test_the_live_recommendation_waits_for_pending_candidates_and_follows_decisions(
    ledger: DoseLedger, open_projections: Any
) -> None:
    projections = open_projections()
    trial_id, patients = dosing(ledger, template(AVU), count=3)
    candidate = UUID(ae(ledger, patients[0], "Nausea", 3, 4)["ae_id"])
    for pid in patients[1:]:
        complete(ledger, pid)

    def check() -> dict[str, Any]:
        projections.catch_up()
        ours = projections.queries.cohort_summary(trial_id)["cohorts"]
        theirs = ledger.trial(trial_id)["cohorts"]
        assert [{k: c[k] for k in COHORT_FIELDS} for c in ours] == [
            {k: c[k] for k in COHORT_FIELDS} for c in theirs
        ]
        return dict(ours[-1])

    assert check()["pending_dlt_candidates"] == 1  # not fully evaluated: no recommendation
    ledger.adjudicate_dlt(trial_id, patients[0], candidate, False, SRC, reason="resolved in 48 h")
    complete(ledger, patients[0])
    assert check()["recommendation"] == "escalate"
    ledger.sign_decision(trial_id, 1, "escalate", SRC)
    last = check()
    assert (last["cohort"], last["level"], last["recommendation"]) == (2, 2, None)
    overview = projections.queries.trial_overview(trial_id)
    assert (overview["current_level"], overview["cohorts"], overview["status"]) == (
        2,
        2,
        "escalating",
    )


def test_trial_overview_counts(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    demo = projections.queries.trial_overview(stories["demo"])
    assert {k: demo[k] for k in ("status", "mtd", "patients", "dlts", "cohorts")} == {
        "status": "mtd_declared",
        "mtd": ledger.trial(stories["demo"])["mtd"],
        "patients": 13,
        "dlts": 2,
        "cohorts": 4,
    }
    assert demo["mtd_dose"] == ledger.trial(stories["demo"])["mtd_dose"]
    assert demo["version"] == ledger.trial(stories["demo"])["version"]
    listed = [o["trial_id"] for o in projections.queries.trial_overviews()]
    assert listed == [str(stories["demo"]), str(stories["toxic"])]
    with pytest.raises(NotFound):
        projections.queries.trial_overview(uuid4())


def test_safety_table_counts_each_patient_once_per_term_at_the_worst_grade(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    table = projections.queries.safety_table(stories["toxic"])
    terms = {t["term"]: t for t in table["terms"]}
    (fatigue,) = terms["Fatigue"]["levels"]  # p1: 2 → 3 → resolved, then 2 again; p3: 1
    assert fatigue["level"] == 1
    assert fatigue["grades"] == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 0}
    assert (fatigue["any_grade"], fatigue["grade_3_or_worse"]) == (2, 1)
    assert terms["Nausea"]["levels"][0]["grades"]["3"] == 1
    assert table["levels"][0] == {
        "level": 1,
        "dose": ledger.trial(stories["toxic"])["levels"][0]["dose"],
        "patients": 3,
    }
    demo = {t["term"]: t for t in projections.queries.safety_table(stories["demo"])["terms"]}
    cpk = {row["level"]: row["grades"] for row in demo["CPK increased"]["levels"]}
    assert (cpk[2]["4"], cpk[1]["3"]) == (1, 1)  # the DLT of cohort 2; cohort 4's cycle 2
    assert demo["Blurred vision"]["levels"][0]["grades"]["1"] == 1
    assert demo["Rash acneiform"]["levels"][0]["grades"]["3"] == 1
    with pytest.raises(NotFound):
        projections.queries.safety_table(uuid4())


def test_patient_timeline_has_each_clinical_happening(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    timeline = projections.queries.patient_timeline(stories["p1"])
    assert timeline["trial_id"] == str(stories["toxic"])
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds[:5] == [
        "enrolled",
        "baseline_eye_exam",
        "baseline_skin_exam",
        "dosing_started",
        "dlt_window_opened",
    ]
    for kind in ("dose", "adverse_event", "ae_grade_changed", "recommendation", "dose_held",
                 "ae_resolved", "dose_resumed", "dlt_window_closed"):  # fmt: skip
        assert kind in kinds
    change = next(e for e in timeline["entries"] if e["kind"] == "ae_grade_changed")
    assert (change["term"], change["grade"], change["clinical_date"]) == (
        "Fatigue",
        3,
        day(5).isoformat(),
    )
    assert "grade 2 → 3" in change["summary"] and change["user_id"] == "inv-7"
    window = next(e for e in timeline["entries"] if e["kind"] == "dlt_window_opened")
    assert window["detail"] == {"first_day": day(1).isoformat(), "last_day": day(28).isoformat()}
    positions = [(e["position"], e["seq"]) for e in timeline["entries"]]
    assert positions == sorted(positions)
    candidate = projections.queries.patient_timeline(stories["p2"])
    assert "dlt_candidate" in [e["kind"] for e in candidate["entries"]]
    with pytest.raises(NotFound):
        projections.queries.patient_timeline(uuid4())


def test_audit_trail_has_one_row_per_event_with_who_and_the_request_id(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections(batch_size=10)
    projections.catch_up()
    events = all_events(ledger)
    assert sum(len(projections.queries.audit_trail(stories[k])) for k in ("demo", "toxic")) == len(
        events
    )
    toxic = stories["toxic"]
    trail = projections.queries.audit_trail(toxic)
    mine = {toxic, *ledger.trial_aggregate(toxic).patient_cohort}
    assert trail == [
        {"trial_id": str(toxic), **audit_row(position, event)}
        for position, event in events
        if event.originator_id in mine
    ]
    traced = [r for r in trail if r["request_id"] == "req-0042" and r["role"] != "system"]
    assert traced and {(r["user_id"], r["role"], r["client"]) for r in traced} == {
        ("inv-7", "investigator", "tests")
    }
    graded = next(r for r in traced if r["event"] == "AEGraded")
    assert (graded["change"], graded["reason"]) == ("grade 2 → 3", "worse at the visit")
    signed = next(r for r in trail if r["event"] == "DLTCandidateAdjudicated")
    assert (signed["user_id"], signed["role"]) == ("src-1", "src_member")
    assert {r["trial_id"] for r in trail} == {str(toxic)}


def test_audit_trail_as_of_a_time(
    ledger: DoseLedger, stories: dict[str, UUID], open_projections: Any
) -> None:
    projections = open_projections()
    projections.catch_up()
    trail = projections.queries.audit_trail(stories["toxic"])
    cut = dt.datetime.fromisoformat(trail[9]["recorded_at"])
    earlier = projections.queries.audit_trail(stories["toxic"], as_of=cut)
    assert earlier == [r for r in trail if dt.datetime.fromisoformat(r["recorded_at"]) <= cut]
    assert 10 <= len(earlier) < len(trail)
    naive = cut.astimezone(dt.UTC).replace(tzinfo=None)  # a naive time is taken as UTC
    assert projections.queries.audit_trail(stories["toxic"], as_of=naive) == earlier
    assert projections.queries.audit_trail(stories["toxic"], as_of=cut - dt.timedelta(days=1)) == []
    with pytest.raises(NotFound):
        projections.queries.audit_trail(uuid4())
