"""No public default secrets: webhook secrets outside the events, a generated audit key."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.utils import Environment

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.persistence import audit_key
from adapters.persistence.audit_verifier import verify
from adapters.persistence.environment import AUDIT_KEY_VAR, persistence_env
from adapters.webhooks import Subscriptions
from adapters.webhooks.subscriptions import SECRETS
from cli_runner import CliRunner
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.protocol import template
from projections.store import open_store
from support import ADMIN

APP = Actor(user_id="key:edc", role="integration")


def test_a_webhook_secret_is_kept_apart_never_in_an_event(ledger: DoseLedger) -> None:
    secret, view = Subscriptions(ledger).subscribe(
        name="EDC", url="https://93.184.216.34/hooks", owner="k", actor=APP
    )
    stored = ledger.recorder.select_notifications(None, 10_000)
    assert stored and not any(secret.encode() in n.state for n in stored)
    assert "secret" not in Subscriptions(ledger).get(UUID(view["id"]), owner=None).view()
    store = open_store(ledger.env)
    try:
        with store.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT secret FROM {store.qualified(SECRETS.name)} WHERE subscription_id = ?",
                (view["id"],),
            )
    finally:
        store.close()
    assert row == (secret,)


def test_without_the_variable_sqlite_generates_a_key_file_0600_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(AUDIT_KEY_VAR, raising=False)
    url = f"sqlite:///{tmp_path}/doseledger.db"
    first = build_ledger(env=persistence_env(url))
    key_file = tmp_path / "doseledger.db.audit-key"
    try:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert first.recorder.audit_key == key.encode()  # type: ignore[attr-defined]
        first.register_trial(template("defactinib-paclitaxel"), ADMIN)
    finally:
        first.close()
    again = build_ledger(env=persistence_env(url))  # a later process: the same key, reused
    try:
        assert again.recorder.audit_key == key.encode()  # type: ignore[attr-defined]
        again.register_trial(template("defactinib-paclitaxel"), ADMIN)
        result = verify(again.recorder)
        assert (result.ok, result.events_checked) == (True, 2)
    finally:
        again.close()
    assert key_file.read_text().strip() == key
    assert list(tmp_path.glob("*.tmp")) == []
    # Another store beside it gets a key of its own.
    other = build_ledger(env=persistence_env(f"sqlite:///{tmp_path}/other.db"))
    try:
        assert other.recorder.audit_key != key.encode()  # type: ignore[attr-defined]
    finally:
        other.close()


def test_the_variable_wins_over_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_VAR, "an-operator-set-key-0123456789")
    ledger = build_ledger(env=persistence_env(f"sqlite:///{tmp_path}/doseledger.db"))
    try:
        assert ledger.recorder.audit_key == b"an-operator-set-key-0123456789"  # type: ignore[attr-defined]
    finally:
        ledger.close()
    assert not (tmp_path / "doseledger.db.audit-key").exists()


def test_there_is_no_public_default_key() -> None:
    assert not hasattr(audit_key, "DEFAULT_AUDIT_KEY")
    with pytest.raises(InvalidInput, match=AUDIT_KEY_VAR):
        audit_key.audit_key_from(Environment(env={}))


@pytest.mark.postgres
def test_postgresql_without_the_key_refuses_to_start(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(AUDIT_KEY_VAR, raising=False)
    with pytest.raises(InvalidInput, match=AUDIT_KEY_VAR):
        build_ledger(env=persistence_env(postgres_url))
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", postgres_url)
    for argv in (["serve"], ["audit", "verify"], ["demo"]):
        line = CliRunner(capsys).refused(*argv)  # exit 2, one line on stderr
        assert AUDIT_KEY_VAR in line, line
