"""Shared fixtures: a DoseLedger on a fresh SQLite file or a fresh PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql

from adapters.application import DoseLedger
from adapters.bootstrap import build_ledger
from adapters.logging import configure_logging
from adapters.persistence.environment import SNAPSHOT_FAILURES_VAR, persistence_env

POSTGRES_URL = os.environ.get(
    "DOSELEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_unreachable: list[str] = []

# Tests assert outcomes, never timings: hypothesis's deadline (200 ms an example) failed
# tests/unit/test_undecoded.py now and then while the 2-core machine ran the rest of the suite.
settings.register_profile("doseledger", deadline=None)
settings.load_profile("doseledger")


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    """JSON logs at WARNING, as the CLI runs; tests that look at logs set their own level."""
    configure_logging("WARNING")


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Logs at INFO for one test (lines it looks at), then back at WARNING."""
    configure_logging("INFO")
    try:
        yield
    finally:
        configure_logging("WARNING")


@pytest.fixture(autouse=True, scope="session")
def _snapshot_failures_fail_tests() -> Iterator[None]:
    """A snapshot that cannot be taken or read fails the test that met it (and the CLI and
    server processes tests start), where production logs it and replays the events."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SNAPSHOT_FAILURES_VAR, "raise")
        yield


def _postgres_conninfo() -> str:
    env = persistence_env(POSTGRES_URL)
    return (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} dbname={env['POSTGRES_DBNAME']} "
        f"user={env['POSTGRES_USER']} password={env['POSTGRES_PASSWORD']} connect_timeout=3"
    )


def require_postgres() -> None:
    """Skip locally, but fail in CI (or when asked to), if PostgreSQL cannot be reached."""
    if not _unreachable:
        try:
            psycopg.connect(_postgres_conninfo()).close()
            _unreachable.append("")
        except psycopg.OperationalError as exc:
            _unreachable.append(str(exc).strip().splitlines()[0])
    if _unreachable[0]:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {_unreachable[0]}"
        if os.environ.get("CI") or os.environ.get("DOSELEDGER_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)


TEST_AUDIT_KEY = "test-audit-key-of-the-suite-0123456789"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL whose events live in a schema of their own, dropped afterwards.

    PostgreSQL needs DOSELEDGER_AUDIT_KEY: the suite's own key, unless one is set already (set
    apart from the test's ``monkeypatch``, whose ``undo()`` mid-test must not drop it).
    """
    require_postgres()
    key = pytest.MonkeyPatch()
    if not os.environ.get("DOSELEDGER_AUDIT_KEY"):
        key.setenv("DOSELEDGER_AUDIT_KEY", TEST_AUDIT_KEY)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_postgres_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        key.undo()
        with psycopg.connect(_postgres_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """A database URL for a fresh SQLite file."""
    return f"sqlite:///{tmp_path}/doseledger.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def ledger(database_url: str) -> Iterator[DoseLedger]:
    """A DoseLedger on a fresh store, closed afterwards."""
    app = build_ledger(env=persistence_env(database_url))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def two_ledgers(database_url: str) -> Iterator[list[DoseLedger]]:
    """Two processes' ledgers on one store (each its own recorder and remembered head)."""
    ledgers = [build_ledger(env=persistence_env(database_url)) for _ in range(2)]
    try:
        yield ledgers
    finally:
        for ledger in ledgers:
            ledger.close()
