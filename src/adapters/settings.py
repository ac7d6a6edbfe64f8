"""Settings from the environment; DOSELEDGER_DATABASE_URL mapped onto eventsourcing's variables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.clock import Clock, starting_at, utc_now
from domain.errors import InvalidInput

DEFAULT_DATABASE_URL = "sqlite:///./doseledger.db"
# The library's factories, with the audit-chain application recorder (tamper evidence).
SQLITE_FACTORY = "adapters.audit_chain:ChainedSQLiteFactory"
POSTGRES_FACTORY = "adapters.audit_chain:ChainedPostgresFactory"
AUDIT_KEY_VAR = "DOSELEDGER_AUDIT_KEY"


class Settings(BaseSettings):
    """doseledger's settings; every one is read from a DOSELEDGER_* environment variable."""

    model_config = SettingsConfigDict(env_prefix="DOSELEDGER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    postgres_pool_size: int = 5
    postgres_lock_timeout_seconds: int = 10
    # HMAC key of the audit chain; unset: on SQLite a random key kept beside the database file
    # (PATH.audit-key, mode 0600), on PostgreSQL nothing starts without it.
    audit_key: str | None = Field(default=None, min_length=16)
    # Seconds between two ticks of the scheduler (reminders and other periodic jobs).
    tick_seconds: int = Field(default=60, ge=1, le=86_400)
    # Tests and demos only: an ISO 8601 instant the ledger's clock reads at start-up and runs
    # on from in real time (unset: the real UTC time).
    clock_start: str | None = None

    # Webhook targets (read where used, see adapters.webhooks.targets): accept http URLs, and
    # hosts (host or host:port, comma-separated) whose addresses are not checked.
    webhook_allow_http: bool = False
    webhook_allowed_hosts: str = ""
    # Idempotency-Key records: kept this long (seconds) after the first request; a claim of a
    # request in progress is taken over by a retry after its lease (a process that died).
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1)
    idempotency_lease_seconds: int = Field(default=30, ge=1)
    # The largest request body accepted (bytes); a larger one is a 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1)

    def clock(self) -> Clock:
        """The ledger's clock: the real UTC time, or one running on from DOSELEDGER_CLOCK_START."""
        if self.clock_start is None:
            return utc_now
        try:
            instant = dt.datetime.fromisoformat(self.clock_start)
        except ValueError:
            raise InvalidInput(
                f"DOSELEDGER_CLOCK_START '{self.clock_start}' is not an ISO 8601 timestamp "
                "(e.g. 2026-03-02T14:30:00Z)",
                field="DOSELEDGER_CLOCK_START",
            ) from None
        return starting_at(instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC))

    def persistence_env(self) -> dict[str, str]:
        """The eventsourcing library's own variables for the configured database."""
        return persistence_env(
            self.database_url,
            pool_size=self.postgres_pool_size,
            lock_timeout=self.postgres_lock_timeout_seconds,
            audit_key=self.audit_key,
        )


def persistence_env(
    url: str,
    *,
    pool_size: int = 5,
    lock_timeout: int = 10,
    audit_key: str | None = None,
) -> dict[str, str]:
    """Map ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=S]``."""
    parts = urlsplit(url)
    key = {AUDIT_KEY_VAR: audit_key} if audit_key else {}
    if parts.scheme == "sqlite":
        return {"PERSISTENCE_MODULE": SQLITE_FACTORY, "SQLITE_DBNAME": _sqlite_path(url), **key}
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres_env(url, pool_size=pool_size, lock_timeout=lock_timeout) | key
    raise InvalidInput(
        f"DOSELEDGER_DATABASE_URL '{_redact(url)}' is neither sqlite:///PATH nor "
        "postgresql://USER:PASSWORD@HOST:PORT/DB",
        field="DOSELEDGER_DATABASE_URL",
    )


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


def _postgres_env(url: str, *, pool_size: int, lock_timeout: int) -> dict[str, str]:
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
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
        "POSTGRES_CONNECT_TIMEOUT": "5",
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
