"""Point-in-time replay from events, the audit export and the SDTM datasets."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any
from uuid import UUID

import pytest

from adapters.application import DoseLedger
from adapters.demo import record_demo_trial
from domain.errors import NotFound
from domain.protocol import template
from support import INVESTIGATOR, SRC, ae, audit_export, audit_rows, day, dosing


def last_recorded(ledger: DoseLedger) -> dt.datetime:
    """The latest event time in the store (events of one save are stamped as triggered)."""
    notifications = ledger.recorder.select_notifications(None, 10_000)
    return max(ledger.mapper.to_domain_event(n).timestamp for n in notifications)


def test_replay_as_of_every_event_time_equals_the_state_then(ledger: DoseLedger) -> None:
    trial_id, patients = dosing(ledger, template("defactinib-avutometinib"), count=3)
    seen: list[tuple[dt.datetime, dict[str, Any]]] = []

    def record() -> None:
        seen.append((last_recorded(ledger), ledger.replay(trial_id)))

    record()
    cpk = ae(ledger, patients[0], "CPK increased", 3, 5)
    record()
    ledger.record_dose_action(patients[0], "hold", day(5), INVESTIGATOR, ae_id=UUID(cpk["ae_id"]))
    record()
    ledger.change_ae_grade(patients[0], UUID(cpk["ae_id"]), 1, day(12), INVESTIGATOR)
    record()
    ledger.record_dose_action(patients[0], "resume", day(13), INVESTIGATOR)
    record()
    for pid in patients[1:]:
        ledger.record_dlt_window_outcome(
            pid, "no_dlt", day(28), INVESTIGATOR, doses_taken_fraction=1.0
        )
        record()
    ledger.sign_decision(trial_id, 1, "expand", SRC)
    record()

    for when, state in seen:
        assert ledger.replay(trial_id, when) == {**state, "as_of": when.isoformat()}
    first_event = next(iter(ledger.events.get(trial_id))).timestamp
    with pytest.raises(NotFound, match="not yet registered"):
        ledger.replay(trial_id, first_event - dt.timedelta(microseconds=1))
    assert seen[-1][1]["trial"]["cohorts"][-1]["origin"] == "expansion"
    held = next(p for p in seen[2][1]["patients"] if p["id"] == str(patients[0]))
    assert held["dosing"] == "withheld"


def test_audit_export_formats(ledger: DoseLedger) -> None:
    trial_id = record_demo_trial(ledger)
    rows = audit_rows(ledger, trial_id)
    assert len(rows) == ledger.recorder.max_notification_id()
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    signed = [r for r in rows if r["event"] == "SRCDecisionSigned"]
    assert len(signed) == 4 and all(r["role"] == "src_member" for r in signed)
    table = list(csv.DictReader(io.StringIO(audit_export(ledger, trial_id, "csv"))))
    assert len(table) == len(rows) and table[0]["event"] == "Registered"
    lines = audit_export(ledger, trial_id, "jsonl").splitlines()
    assert [json.loads(line)["position"] for line in lines] == [r["position"] for r in rows]
    report = audit_export(ledger, trial_id, "html")
    assert report.startswith("<!DOCTYPE html>") and "<svg" in report
    assert "Demo: defactinib + avutometinib" in report and "<script" not in report
    assert report.count("<tr>") >= len(rows)
    held = [r for r in rows if r["event"] == "DoseHeld"]
    assert held and held[0]["clinical_date"]


def test_audit_rows_as_of_and_corrections(ledger: DoseLedger) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-paclitaxel"))
    trial_id = ledger.patient(pid)["trial_id"]
    recorded = ae(ledger, pid, "Fatigue", 2, 10)
    cut = last_recorded(ledger)
    ledger.change_ae_grade(
        pid, UUID(recorded["ae_id"]), 3, day(12), INVESTIGATOR, reason="worsened"
    )
    rows = audit_rows(ledger, UUID(trial_id))
    graded = [r for r in rows if r["event"] == "AEGraded"]
    assert graded[0]["change"] == "grade 2 → 3" and graded[0]["reason"] == "worsened"
    earlier = audit_rows(ledger, UUID(trial_id), as_of=cut)
    assert len(earlier) < len(rows) and not [r for r in earlier if r["event"] == "AEGraded"]


def test_sdtm_ae_and_ex(ledger: DoseLedger) -> None:
    trial_id, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    recorded = ae(ledger, pid, "Fatigue", 3, 40, serious=True)
    ledger.record_dose_action(pid, "hold", day(40), INVESTIGATOR, ae_id=UUID(recorded["ae_id"]))
    ledger.change_ae_grade(pid, UUID(recorded["ae_id"]), 0, day(45), INVESTIGATOR)
    ledger.record_dose_action(pid, "resume", day(46), INVESTIGATOR)
    ae_rows = list(csv.DictReader(io.StringIO(ledger.sdtm(trial_id, "AE"))))
    assert len(ae_rows) == 1
    row = ae_rows[0]
    assert (row["DOMAIN"], row["AETERM"], row["AETOXGR"], row["AESER"], row["AEACN"]) == (
        "AE",
        "Fatigue",
        "3",
        "Y",
        "DRUG INTERRUPTED",
    )
    assert (row["AESTDTC"], row["AEENDTC"]) == (day(40).isoformat(), day(45).isoformat())
    assert row["AEBODSYS"] == "General disorders and administration site conditions"
    ex_rows = list(csv.DictReader(io.StringIO(ledger.sdtm(trial_id, "EX"))))
    defactinib = [r for r in ex_rows if r["EXTRT"] == "DEFACTINIB"]
    assert [
        (r["EXDOSE"], r["EXDOSU"], r["EXDOSFRQ"], r["EXSTDTC"], r["EXENDTC"]) for r in defactinib
    ] == [
        ("200", "MG", "BID", day(1).isoformat(), day(39).isoformat()),
        ("200", "MG", "BID", day(46).isoformat(), ""),
    ]
    assert {r["EXDOSFRQ"] for r in ex_rows if r["EXTRT"] == "AVUTOMETINIB"} == {"2 TIMES PER WEEK"}
