"""An SRC decision may cite the packet it was made on: the hash is checked, stored on the
decision's event and shown in the audit export (CSV and JSON lines), and a malformed one is
refused with nothing recorded. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from test_src_packet import decidable

from adapters.application import DoseLedger
from domain.errors import InvalidInput
from support import SRC, audit_export


def test_a_decision_cites_the_packet_it_was_made_on(ledger: DoseLedger) -> None:
    trial_id, _ = decidable(ledger)
    packet = ledger.src_packet(trial_id)
    rule = dict(packet.content["recommendation"]["rule"])
    assert "escalate to DL2" in rule["rule"] and rule["counts"] == "0/3 with a DLT at DL1"
    before = ledger.recorder.max_notification_id()
    for bad in ("A" * 64, "0" * 63, packet.sha256 + "0", f"{packet.sha256[:-1]}g"):
        with pytest.raises(InvalidInput) as refused:
            ledger.sign_decision(
                trial_id, 1, "escalate", SRC, meaning="approval", packet_sha256=bad
            )
        assert refused.value.field == "packet_sha256"
    assert ledger.recorder.max_notification_id() == before
    ledger.sign_decision(
        trial_id, 1, "escalate", SRC, meaning="approval", packet_sha256=packet.sha256
    )
    (signed,) = [e for e in ledger.events.get(trial_id) if type(e).__name__ == "SRCDecisionSigned"]
    assert signed.packet_sha256 == packet.sha256
    rows = list(csv.DictReader(io.StringIO(audit_export(ledger, trial_id, "csv"))))
    (row,) = [r for r in rows if r["event"] == "SRCDecisionSigned"]
    assert row["summary"].endswith(f"; on SRC packet sha256 {packet.sha256}")
    lines = [json.loads(line) for line in audit_export(ledger, trial_id, "jsonl").splitlines()]
    assert [r["summary"] for r in lines if r["event"] == "SRCDecisionSigned"] == [row["summary"]]
    after = ledger.src_packet(trial_id).content["cohorts"][0]
    assert after["packet_sha256"] == packet.sha256 and after["decision"] == "escalate"
