"""GET /trials/{id}/src-packet as clients see it: an HTML download for the committee, its monitors
and auditors only, with the packet's SHA-256 in a header; refusals are problems and record
nothing; a decision citing a malformed packet hash is a 422."""

from __future__ import annotations

import re

from adapters.application import DoseLedger
from adapters.persistence.audit_verifier import verify
from http_api import Api
from projections.src_packet.html import packet_sha256
from support import decidable

ROLES = ("investigator", "src_member", "monitor", "auditor", "integration", "admin")
ALLOWED = {"src_member", "monitor", "auditor"}


def _api(ledger: DoseLedger) -> Api:
    return Api(ledger, {role: (role, "S01" if role == "investigator" else None) for role in ROLES})


def test_the_packet_is_a_download_for_the_committee_monitors_and_auditors(
    ledger: DoseLedger,
) -> None:
    trial_id, _ = decidable(ledger)
    api = _api(ledger)
    before = ledger.recorder.max_notification_id()
    path = f"/trials/{trial_id}/src-packet"
    for role in ROLES:
        if role not in ALLOWED:
            problem = api.call("GET", path, role, 403).json()
            assert problem["status"] == 403
            continue
        response = api.call("GET", path, role, 200)
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{trial_id}-src-packet.html"'
        )
        digest = response.headers["x-packet-sha256"]
        assert re.fullmatch("[0-9a-f]{64}", digest) and packet_sha256(response.text) == digest
        # The keys were issued after the trial's last event: its head is an earlier link.
        head = re.search(r'id="chain-head">([0-9a-f]{64})<', response.text)
        assert head is not None and verify(ledger.recorder, expect_head=head.group(1)).ok
    api.call("GET", path, None, 401)
    letter = api.call("GET", f"{path}?paper=letter", "monitor", 200).text
    assert '<body class="letter">' in letter
    assert ledger.recorder.max_notification_id() == before


def test_bad_input_is_a_problem_and_records_nothing(ledger: DoseLedger) -> None:
    trial_id, _ = decidable(ledger)
    api = _api(ledger)
    before = ledger.recorder.max_notification_id()
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.call("GET", f"/trials/{unknown}/src-packet", "auditor", 404).json()["status"] == 404
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "1"):
        api.call("GET", f"/trials/{trial_id}/src-packet?as_of={bad}", "auditor", 422)
    api.call("GET", f"/trials/{trial_id}/src-packet?paper=legal", "auditor", 422)
    api.call("GET", f"/trials/{trial_id}/src-packet?as_of=2000-01-01T00:00:00Z", "auditor", 404)
    body = {"cohort": 1, "decision": "escalate", "meaning": "approval"}
    for bad in ("A" * 64, "0" * 63, "g" * 64, 42):
        problem = api.call(
            "POST",
            f"/trials/{trial_id}/decisions",
            "src_member",
            422,
            json=body | {"packet_sha256": bad},
        ).json()
        assert "packet_sha256" in (problem.get("field") or problem["detail"])
    assert ledger.recorder.max_notification_id() == before
    digest = api.call("GET", f"/trials/{trial_id}/src-packet", "src_member", 200).headers[
        "x-packet-sha256"
    ]
    api.call(
        "POST",
        f"/trials/{trial_id}/decisions",
        "src_member",
        201,
        json=body | {"packet_sha256": digest},
    )
    audit = api.call("GET", f"/trials/{trial_id}/audit", "auditor", 200).json()["rows"]
    assert any(digest in (row["summary"] or "") for row in audit)
