"""The settings as the eventsourcing library's environment: the one place the two meet.

The library configures itself from one dict of variables (its own ``PERSISTENCE_MODULE``,
``SQLITE_DBNAME``, ``POSTGRES_*``, ...), which it merges over the process environment. The
settings (``adapters.settings.Settings``) name a database URL; ``persistence_env`` maps it onto
those variables, and adds ours that the persistence layer reads back from the application's
environment (the audit key, the snapshot-failure policy), so that nothing in it reads the
process environment itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, cast, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from domain.errors import InvalidInput

# The application's name: the prefix the library gives its environment variables.
LEDGER_NAME = "doseledger"
# The library's factories, with the audit-chain application recorder (tamper evidence).
SQLITE_FACTORY = "adapters.persistence.factories:ChainedSQLiteFactory"
POSTGRES_FACTORY = "adapters.persistence.postgres_factory:ChainedPostgresFactory"
# The audit chain's HMAC key; the same name as the setting's variable, as the library merges
# the process environment under what it is given.
AUDIT_KEY_VAR = "DOSELEDGER_AUDIT_KEY"
# What a failed snapshot does: "log" (production: an error line, the events stay recorded and
# loads replay them) or "raise" (the test suite: the failure fails the test).
SNAPSHOT_FAILURES_VAR = "DOSELEDGER_SNAPSHOT_FAILURES"
SnapshotFailures = Literal["log", "raise"]


def persistence_env(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    lock_timeout: int = 10,
    audit_key: str | None = None,
    snapshot_failures: SnapshotFailures | None = None,
) -> dict[str, str]:
    """Map ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=S]``."""
    parts = urlsplit(url)
    ours = {AUDIT_KEY_VAR: audit_key} if audit_key else {}
    if snapshot_failures is not None:
        ours[SNAPSHOT_FAILURES_VAR] = snapshot_failures
    if parts.scheme == "sqlite":
        return {"PERSISTENCE_MODULE": SQLITE_FACTORY, "SQLITE_DBNAME": _sqlite_path(url), **ours}
    if parts.scheme in ("postgresql", "postgres"):
        pool = {"pool_size": pool_size, "max_overflow": max_overflow}
        return _postgres_env(url, lock_timeout=lock_timeout, **pool) | ours
    raise InvalidInput(
        f"DOSELEDGER_DATABASE_URL '{_redact(url)}' is neither sqlite:///PATH nor "
        "postgresql://USER:PASSWORD@HOST:PORT/DB",
        field="DOSELEDGER_DATABASE_URL",
    )


def snapshot_failures(env: Mapping[str, str]) -> SnapshotFailures:
    """The snapshot-failure policy an application's environment names (default "log")."""
    policy = env.get(SNAPSHOT_FAILURES_VAR) or "log"
    if policy not in get_args(SnapshotFailures):
        raise InvalidInput(
            f"{SNAPSHOT_FAILURES_VAR} '{policy}' is neither 'log' nor 'raise'",
            field=SNAPSHOT_FAILURES_VAR,
        )
    return cast(SnapshotFailures, policy)


def _sqlite_path(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise InvalidInput(
            f"DOSELEDGER_DATABASE_URL '{url}': a SQLite URL is sqlite:///PATH "
            "(three slashes; four for an absolute path)",
            field="DOSELEDGER_DATABASE_URL",
        )
    path = url.removeprefix("sqlite:///")
    if not path:
        raise InvalidInput(
            "DOSELEDGER_DATABASE_URL: the SQLite URL names no file", field="DOSELEDGER_DATABASE_URL"
        )
    if path == ":memory:":
        # A shared-cache name so that every connection of the pool sees the same database.
        return "file::memory:?cache=shared"
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InvalidInput(
            f"DOSELEDGER_DATABASE_URL: folder {parent} does not exist",
            field="DOSELEDGER_DATABASE_URL",
        )
    return str(Path(path).expanduser())


def _postgres_env(
    url: str, *, pool_size: int, max_overflow: int, lock_timeout: int
) -> dict[str, str]:
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    try:
        port = parts.port or 5432
    except ValueError:
        port = -1
    if not parts.hostname or not dbname or port <= 0 or not parts.username:
        raise InvalidInput(
            f"DOSELEDGER_DATABASE_URL '{_redact(url)}' must name user, host, port and database: "
            "postgresql://USER:PASSWORD@HOST:PORT/DB",
            field="DOSELEDGER_DATABASE_URL",
        )
    env = {
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "POSTGRES_DBNAME": unquote(dbname),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # A pooled connection is checked as it is taken: after a server restart, the stale
        # ones are replaced instead of failing a request each (issue 14).
        "POSTGRES_PRE_PING": "y",
    }
    schema = parse_qs(parts.query).get("schema")
    if schema:
        env["POSTGRES_SCHEMA"] = schema[0]
    return env


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
