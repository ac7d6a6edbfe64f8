"""The safety review committee's packet, read back as a committee member (and an inspector) would:
its plots hold one marker and one lane per patient of the right kind, its listings are the safety
table's, its footer names the audit chain's head, an as-of packet is the record at that instant, and
the same record gives the same SHA-256. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections import Counter
from uuid import uuid4

import pytest

from adapters.application import DoseLedger
from adapters.demo import record_demo_trial
from adapters.persistence.audit_verifier import verify
from domain.errors import InvalidInput, NotFound
from domain.protocol import template
from projections.src_packet.html import packet_sha256
from support import ADMIN, SRC, ae, decidable, read_models_of

SVG = "{http://www.w3.org/2000/svg}"


def _svgs(page: str) -> tuple[ET.Element, ET.Element]:
    """The packet's two inline SVGs (escalation, swimmer), parsed."""
    found = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(found) == 2
    escalation, swimmer = (ET.fromstring(text) for text in found)
    return escalation, swimmer


def _gids(svg: ET.Element) -> list[str]:
    return [g.get("id", "") for g in svg.iter(f"{SVG}g")]


def test_the_plots_hold_one_marker_and_one_lane_per_patient_of_the_right_kind(
    ledger: DoseLedger,
) -> None:
    trial_id = record_demo_trial(ledger)
    packet = ledger.src_packet(trial_id)
    patients = ledger.replay(trial_id)["patients"]
    assert len(patients) == 13
    escalation, swimmer = _svgs(packet.html)
    markers = [g for g in _gids(escalation) if g.startswith("esc-")]
    assert len(markers) == len(patients)
    kind_of = {"dlt": "dlt", "no_dlt": "no_dlt", "not_evaluable": "not_evaluable", None: ""}
    expected = [kind_of[p["dlt_outcome"]] or "in_window" for p in patients]
    in_order = sorted(markers, key=lambda g: int(g.split("-")[-1]))
    assert [m.split("-")[1] for m in in_order] == expected
    assert Counter(m.split("-")[1] for m in markers) == {"no_dlt": 10, "dlt": 2, "not_evaluable": 1}
    gids = _gids(swimmer)
    assert sorted(int(g.split("-")[1]) for g in gids if g.startswith("lane-")) == list(range(1, 14))
    for n, patient in enumerate(patients, start=1):
        aes = [a for a in patient["adverse_events"] if not a["entered_in_error"]]
        drawn = [g for g in gids if g.startswith(f"ae-{n}-")]
        assert sorted(int(g.rsplit("-g", 1)[1]) for g in drawn) == sorted(
            a["worst_grade"] for a in aes
        )
        assert (f"dlt-{n}" in gids) == (patient["dlt_outcome"] == "dlt")
        assert (f"end-{n}-left_the_study" in gids) == (patient["dlt_outcome"] == "not_evaluable")
        assert f"window-{n}" in gids
        holds = [g for g in gids if g.startswith(f"hold-{n}-")]
        assert len(holds) == len(patient["holds"])
    # Self-contained: no script, no link out (the only URLs are the SVG namespaces' names).
    assert "<script" not in packet.html and "@page { size: A4 landscape" in packet.html
    assert set(re.findall(r"https?://[^\s\"')<>]+", packet.html)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert not re.search(r"(?:href|src)=\"(?!#)", packet.html)


def test_the_dlt_listing_and_ae_summary_are_the_safety_tables(ledger: DoseLedger) -> None:
    trial_id = record_demo_trial(ledger)
    content = ledger.src_packet(trial_id).content
    read_models = read_models_of(ledger)
    try:
        safety = read_models.queries.safety_table(trial_id)
        cohorts = read_models.queries.cohort_summary(trial_id)
    finally:
        read_models.close()
    assert content["ae_summary"]["terms"] == safety["terms"]
    assert content["ae_summary"]["deviations"] == safety["deviations"]
    assert [lv["patients"] for lv in content["ae_summary"]["levels"]] == [
        lv["patients"] for lv in safety["levels"]
    ]
    listed = {(r["term"], r["level"], r["grade"]) for r in content["dlts"]}
    assert listed == {("CPK increased", 2, 4), ("Rash acneiform", 2, 3)}
    for term, level, grade in listed:
        row = next(t for t in safety["terms"] if t["term"] == term)
        counts = next(r for r in row["levels"] if r["level"] == level)["grades"]
        assert counts[str(grade)] >= 1
    assert len(content["dlts"]) == sum(c["dlts"] for c in cohorts["cohorts"])
    assert [(c["cohort"], c["decision"], c["signed_by"]) for c in content["cohorts"]] == [
        (c["cohort"], c["decision"], c["signed_by"]) for c in cohorts["cohorts"]
    ]


def test_the_packet_is_bound_to_the_audit_chain_and_to_its_own_hash(ledger: DoseLedger) -> None:
    trial_id = record_demo_trial(ledger)
    packet = ledger.src_packet(trial_id)
    head = verify(ledger.recorder)
    binding = packet.content["binding"]
    assert head.ok and binding["chain_head"] == head.head
    assert binding["position"] == ledger.recorder.max_notification_id()
    assert f'id="chain-head">{head.head}<' in packet.html
    assert packet_sha256(packet.html) == packet.sha256
    assert f'id="packet-sha256">{packet.sha256}<' in packet.html
    again = ledger.src_packet(trial_id)
    assert again.html == packet.html and again.sha256 == packet.sha256
    # Another trial's events come later: this trial's record, and so its packet, is unchanged,
    # and its head is still a link of the chain.
    ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    assert ledger.src_packet(trial_id).sha256 == packet.sha256
    assert verify(ledger.recorder, expect_head=binding["chain_head"]).ok
    assert verify(ledger.recorder).head != binding["chain_head"]


def test_an_as_of_packet_is_the_record_at_that_instant(ledger: DoseLedger) -> None:
    trial_id, patients = decidable(ledger)
    earlier = ledger.src_packet(trial_id)
    instant = dt.datetime.fromisoformat(earlier.content["binding"]["recorded_at"])
    ae(ledger, patients[0], "Fatigue", 2, 30)
    ledger.sign_decision(trial_id, 1, "escalate", SRC, meaning="approval")
    now = ledger.src_packet(trial_id)
    as_of = ledger.src_packet(trial_id, instant)
    assert as_of.sha256 != now.sha256
    assert as_of.content["binding"] == earlier.content["binding"]
    same = {k: v for k, v in as_of.content.items() if k != "header"}
    assert same == {k: v for k, v in earlier.content.items() if k != "header"}
    assert as_of.content["header"]["as_of"] == instant.isoformat()
    replayed = ledger.replay(trial_id, instant)
    fields = ("cohort", "level", "enrolled", "evaluable", "dlts", "recommendation", "decision")
    assert [{f: c[f] for f in fields} for c in as_of.content["cohorts"]] == [
        {f: c[f] for f in fields} for c in replayed["trial"]["cohorts"]
    ]
    assert [ln["subject_id"] for ln in as_of.content["lanes"]] == [
        p["subject_id"] for p in replayed["patients"]
    ]
    assert as_of.content["recommendation"]["action"] == "escalate"
    assert now.content["recommendation"]["action"] is None  # cohort 2 is open, not evaluated
    assert not as_of.content["ae_summary"]["terms"] and now.content["ae_summary"]["terms"]


def test_a_packet_of_no_trial_or_before_its_registration_is_refused(ledger: DoseLedger) -> None:
    trial_id, patients = decidable(ledger)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(NotFound):
        ledger.src_packet(uuid4())
    with pytest.raises(NotFound):
        ledger.src_packet(patients[0])  # a patient, not a trial
    with pytest.raises(NotFound, match="not yet registered"):
        ledger.src_packet(trial_id, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(InvalidInput):
        ledger.src_packet(trial_id, paper="legal")
    assert ledger.recorder.max_notification_id() == before
