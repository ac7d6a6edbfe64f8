"""``doseledger audit verify`` as an auditor runs it: one JSON object, exit 0 when the store is
intact, exit 1 with the fault (and one stderr line naming aggregate and version) when not."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from adapters.bootstrap import build_ledger
from adapters.demo import record_demo_trial
from adapters.persistence.environment import persistence_env
from cli_runner import CliRunner


class SQLiteCli(CliRunner):
    def __init__(self, capsys: pytest.CaptureFixture[str], path: str) -> None:
        super().__init__(capsys)
        self.path = path


@pytest.fixture
def sqlite_cli(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> SQLiteCli:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("DOSELEDGER_AUDIT_KEY", raising=False)
    return SQLiteCli(capsys, sqlite_url.removeprefix("sqlite:///"))


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", database_url)
    if database_url.startswith("sqlite"):  # the key generated beside the file (PostgreSQL: set)
        monkeypatch.delenv("DOSELEDGER_AUDIT_KEY", raising=False)
    return CliRunner(capsys)


def _demo(cli: CliRunner) -> str:
    code, out, err = cli.run("demo")
    assert code == 0, err
    return out.split("Recorded the demo trial ")[1].split(".")[0]


def _fails(cli: CliRunner, *argv: str) -> tuple[dict[str, Any], str]:
    code, out, err = cli.run("audit", "verify", *argv)
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("doseledger: audit verify: ")
    return json.loads(out), lines[0]


def test_an_intact_store_exits_0_with_the_count_and_head(cli: CliRunner) -> None:
    empty = cli.json("audit", "verify")
    assert empty["ok"] is True and empty["events_checked"] == 0
    _demo(cli)
    code, out, err = cli.run("audit", "verify")
    assert (code, err) == (0, "")
    assert len(out.strip().splitlines()) == 1
    answer = json.loads(out)
    assert set(answer) == {"ok", "events_checked", "head"}
    # 114 events: the demo records its two sites' time zones (SiteTimeZoneRecorded)
    assert answer["ok"] is True and answer["events_checked"] == 114
    assert len(answer["head"]) == 64 and answer["head"] != empty["head"]
    assert cli.json("audit", "verify", "--expect-head", answer["head"]) == answer
    # An anchor taken earlier stays valid while the store grows.
    assert cli.json("audit", "verify", "--expect-head", empty["head"].upper()) == answer


def test_a_head_that_is_not_in_the_chain_exits_1(cli: CliRunner) -> None:
    _demo(cli)
    answer, line = _fails(cli, "--expect-head", "0123456789abcdef" * 4)
    assert answer["ok"] is False and answer["events_checked"] == 114
    assert answer["fault"]["kind"] == "head_mismatch"
    assert "0123456789abcdef" * 4 in line


def test_a_malformed_head_is_a_usage_error(cli: CliRunner) -> None:
    assert "64 hex digits" in cli.refused("audit", "verify", "--expect-head", "nope")
    assert "audit_command" in cli.refused("audit")


def test_a_changed_event_exits_1_naming_aggregate_and_version(sqlite_cli: SQLiteCli) -> None:
    trial_id = _demo(sqlite_cli)
    with closing(sqlite3.connect(sqlite_cli.path)) as conn:
        ((version, state),) = conn.execute(
            "SELECT originator_version, state FROM stored_events "
            "WHERE topic = 'doseledger:trial.SRCDecisionSigned' ORDER BY rowid LIMIT 1"
        ).fetchall()
        assert b'"approval"' in state
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (state.replace(b'"approval"', b'"rejected"'), trial_id.replace("-", ""), version),
        )
        conn.commit()
    answer, line = _fails(sqlite_cli)
    fault = answer["fault"]
    assert fault["kind"] == "changed"
    assert (fault["aggregate"], fault["aggregate_id"], fault["version"]) == (
        "trial",
        trial_id,
        version,
    )
    assert set(answer) == {"ok", "events_checked", "head", "fault"}
    assert set(fault) == {"kind", "aggregate", "aggregate_id", "version", "message"}
    assert f"trial {trial_id} version {version}" in line and "changed" in line


def test_a_removed_event_exits_1_on_both_databases(cli: CliRunner, database_url: str) -> None:
    _demo(cli)
    app = build_ledger(env=persistence_env(database_url))
    try:
        notifications = app.recorder.select_notifications(None, 1000)
    finally:
        app.close()
    patients = [n for n in notifications if n.topic.startswith("doseledger:patient.")]
    first = UUID(str(patients[0].originator_id))
    version = max(n.originator_version for n in patients if n.originator_id == first)
    assert notifications[-1].originator_id != first
    _delete(database_url, first, version)
    answer, line = _fails(cli)
    fault = answer["fault"]
    assert (fault["kind"], fault["aggregate"], fault["aggregate_id"], fault["version"]) == (
        "removed",
        "patient",
        str(first),
        version,
    )
    assert f"patient {first} version {version}" in line


def _delete(url: str, originator_id: UUID, version: int) -> None:
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.execute(
                "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, version),
            )
            conn.commit()
        return
    env = persistence_env(url)
    schema = parse_qs(urlsplit(url).query)["schema"][0]
    conninfo = " ".join(
        f"{name}={env['POSTGRES_' + name.upper()]}"
        for name in ("host", "port", "dbname", "user", "password")
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "DELETE FROM {}.doseledger_events WHERE originator_id = %s "
                "AND originator_version = %s"
            ).format(sql.Identifier(schema)),
            (originator_id, version),
        )


def test_a_store_from_before_the_chain_exits_1_clearly(
    sqlite_cli: SQLiteCli, sqlite_url: str
) -> None:
    old = build_ledger(
        env=persistence_env(sqlite_url) | {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    )
    try:
        record_demo_trial(old)
    finally:
        old.close()
    answer, line = _fails(sqlite_cli)
    assert answer["ok"] is False and answer["fault"]["kind"] == "unchained"
    assert "first 114 stored events are not covered by the audit chain" in line
