"""DOSELEDGER_DATABASE_URL is mapped onto the eventsourcing library's own variables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.clock import utc_now
from adapters.persistence.environment import (
    POSTGRES_FACTORY,
    SNAPSHOT_FAILURES_VAR,
    SQLITE_FACTORY,
    persistence_env,
    snapshot_failures,
)
from adapters.settings import DEFAULT_DATABASE_URL, Settings
from domain.errors import InvalidInput


def test_default_is_an_sqlite_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DOSELEDGER_DATABASE_URL", raising=False)
    assert Settings().database_url == DEFAULT_DATABASE_URL == "sqlite:///./doseledger.db"
    monkeypatch.delenv("DOSELEDGER_AUDIT_KEY", raising=False)
    monkeypatch.delenv(SNAPSHOT_FAILURES_VAR, raising=False)
    assert Settings().persistence_env() == {
        "PERSISTENCE_MODULE": SQLITE_FACTORY,  # the library's SQLite, with the audit chain
        "SQLITE_DBNAME": "doseledger.db",
        SNAPSHOT_FAILURES_VAR: "log",  # production: a failed snapshot is logged, not raised
    }


def test_snapshot_failures_are_logged_unless_the_settings_say_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SNAPSHOT_FAILURES_VAR, raising=False)
    assert snapshot_failures(Settings().persistence_env()) == "log"
    assert snapshot_failures({}) == "log"
    monkeypatch.setenv(SNAPSHOT_FAILURES_VAR, "raise")
    assert snapshot_failures(Settings().persistence_env()) == "raise"
    monkeypatch.setenv(SNAPSHOT_FAILURES_VAR, "ignore")
    with pytest.raises(ValidationError):
        Settings()
    with pytest.raises(InvalidInput, match="neither 'log' nor 'raise'"):
        snapshot_failures({SNAPSHOT_FAILURES_VAR: "ignore"})


def test_sqlite_absolute_path(tmp_path: Path) -> None:
    env = persistence_env(f"sqlite:///{tmp_path}/x.db")
    assert env["SQLITE_DBNAME"] == f"{tmp_path}/x.db"


def test_sqlite_in_memory_is_shared_between_connections() -> None:
    assert persistence_env("sqlite:///:memory:")["SQLITE_DBNAME"] == "file::memory:?cache=shared"


def test_postgres_url_maps_every_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DOSELEDGER_DATABASE_URL", "postgresql://trial%40ops:s%3Acret@db.internal:6543/ledger"
    )
    env = Settings().persistence_env()
    assert env["PERSISTENCE_MODULE"] == POSTGRES_FACTORY
    assert env["POSTGRES_HOST"] == "db.internal"
    assert env["POSTGRES_PORT"] == "6543"
    assert env["POSTGRES_DBNAME"] == "ledger"
    assert env["POSTGRES_USER"] == "trial@ops"
    assert env["POSTGRES_PASSWORD"] == "s:cret"
    assert "POSTGRES_SCHEMA" not in env


def test_postgres_schema_and_default_port() -> None:
    env = persistence_env("postgres://u@localhost/db?schema=site_a")
    assert (env["POSTGRES_PORT"], env["POSTGRES_SCHEMA"]) == ("5432", "site_a")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "neither sqlite"),
        ("sqlite://relative.db", "three slashes"),
        ("sqlite:///", "names no file"),
        ("sqlite:////no/such/folder/x.db", "does not exist"),
        ("postgresql://u:pw@host:5432/", "must name user, host, port and database"),
        ("postgresql://host/db", "must name user"),
        ("postgresql://u:pw@host:notaport/db", "must name user"),
    ],
)
def test_bad_urls_are_refused_clearly_without_leaking_passwords(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        persistence_env(url)
    assert ":pw@" not in str(caught.value)


def test_tick_seconds_default_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOSELEDGER_TICK_SECONDS", raising=False)
    assert Settings().tick_seconds == 60
    monkeypatch.setenv("DOSELEDGER_TICK_SECONDS", "5")
    assert Settings().tick_seconds == 5
    for bad in ("0", "-1", "abc", "1.5", "86401"):
        monkeypatch.setenv("DOSELEDGER_TICK_SECONDS", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_the_clock_is_real_time_unless_a_start_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOSELEDGER_CLOCK_START", raising=False)
    assert Settings().clock() is utc_now
    monkeypatch.setenv("DOSELEDGER_CLOCK_START", "2026-05-02T00:00:00")  # no offset: UTC
    clock = Settings().clock()
    first, second = clock(), clock()
    start = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    assert start <= first <= second < start + dt.timedelta(minutes=5)  # runs on from there
    assert first.utcoffset() == dt.timedelta(0)
    monkeypatch.setenv("DOSELEDGER_CLOCK_START", "tomorrow")
    with pytest.raises(InvalidInput, match="DOSELEDGER_CLOCK_START 'tomorrow' is not an ISO"):
        Settings().clock()
