"""``doseledger replay``, ``export sdtm`` and ``report src-packet`` as a user runs them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cli_runner import CliRunner
from projections.src_packet.html import packet_sha256


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", sqlite_url)
    return CliRunner(capsys)


def _demo(cli: CliRunner) -> str:
    code, out, _ = cli.run("demo")
    assert code == 0
    return out.split("Recorded the demo trial ")[1].split(".")[0]


def test_replay_now_and_as_of(cli: CliRunner) -> None:
    trial_id = _demo(cli)
    now = cli.json("replay", trial_id)
    assert now["as_of"] is None and now["trial"]["mtd"] == 1 and len(now["patients"]) == 13
    past = cli.json("replay", trial_id, "--as-of", "2099-01-01T00:00:00Z")
    assert past["trial"] == now["trial"]
    assert "not yet registered" in cli.refused("replay", trial_id, "--as-of", "2000-01-01")
    assert "ISO 8601" in cli.refused("replay", trial_id, "--as-of", "yesterday")
    assert "no trial" in cli.refused("replay", "00000000-0000-0000-0000-000000000000")


def test_export_sdtm_to_stdout_and_file(cli: CliRunner, tmp_path: Path) -> None:
    trial_id = _demo(cli)
    ae = list(csv.DictReader(io.StringIO(cli.text("export", "sdtm", "--domain", "AE", trial_id))))
    assert {(row["AETERM"], row["AEACN"]) for row in ae} == {
        ("CPK increased", "DRUG INTERRUPTED"),
        ("Rash acneiform", "DRUG INTERRUPTED"),
        ("Blurred vision", "DOSE NOT CHANGED"),
    }
    out = tmp_path / "ex.csv"
    written = cli.json("export", "sdtm", "--domain", "EX", trial_id, "--out", str(out))
    assert written["written"] == str(out)
    header = out.read_text().splitlines()[0].split(",")
    assert header[:4] == ["STUDYID", "DOMAIN", "USUBJID", "EXSEQ"]
    assert "EXDOSFRQ" in header and "EXENDTC" in header
    assert "invalid choice" in cli.refused("export", "sdtm", "--domain", "LB", trial_id)
    assert "does not exist" in cli.refused(
        "export", "sdtm", "--domain", "AE", trial_id, "--out", "/no/such/dir/ae.csv"
    )


def test_report_src_packet_writes_the_packet_bound_to_the_verified_head(
    cli: CliRunner, tmp_path: Path
) -> None:
    trial_id = _demo(cli)
    out = tmp_path / "packet.html"
    written = cli.json("report", "src-packet", trial_id, "--out", str(out))
    page = out.read_text(encoding="utf-8")
    assert written["written"] == str(out) and written["bytes"] == len(page.encode())
    assert packet_sha256(page) == written["sha256"]
    verified = cli.json("audit", "verify")
    assert written["chain_head"] == verified["head"]
    assert written["position"] == verified["events_checked"]
    assert f'id="chain-head">{verified["head"]}<' in page
    again = cli.json("report", "src-packet", trial_id, "--out", str(tmp_path / "again.html"))
    assert again["sha256"] == written["sha256"]
    past = cli.json(
        "report",
        "src-packet",
        trial_id,
        "--as-of",
        "2099-01-01T00:00:00Z",
        "--out",
        str(tmp_path / "later.html"),
        "--paper",
        "letter",
    )
    assert past["chain_head"] == written["chain_head"] and past["sha256"] != written["sha256"]
    assert "ISO 8601" in cli.refused(
        "report", "src-packet", trial_id, "--as-of", "yesterday", "--out", str(out)
    )
    assert "no trial" in cli.refused(
        "report", "src-packet", "00000000-0000-0000-0000-000000000000", "--out", str(out)
    )
    assert "not yet registered" in cli.refused(
        "report", "src-packet", trial_id, "--as-of", "2000-01-01", "--out", str(out)
    )
    assert "does not exist" in cli.refused(
        "report", "src-packet", trial_id, "--out", "/no/such/dir/packet.html"
    )
    assert "required" in cli.refused("report", "src-packet", trial_id)
    assert "packet_sha256" in cli.refused(
        "--role",
        "src_member",
        "trial",
        "decide",
        trial_id,
        "--cohort",
        "5",
        "--decision",
        "escalate",
        "--packet-sha256",
        "ABC",
    )
