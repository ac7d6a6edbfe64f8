"""doseledger's settings, read from DOSELEDGER_* environment variables (pydantic-settings)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.clock import Clock, starting_at, utc_now
from adapters.persistence.environment import SnapshotFailures, persistence_env
from domain.errors import InvalidInput

DEFAULT_DATABASE_URL = "sqlite:///./doseledger.db"


class Settings(BaseSettings):
    """doseledger's settings; every one is read from a DOSELEDGER_* environment variable."""

    model_config = SettingsConfigDict(env_prefix="DOSELEDGER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    postgres_pool_size: int = 5
    # Connections a process may open beyond the pool's under load (the library's default).
    postgres_max_overflow: int = Field(default=10, ge=0)
    postgres_lock_timeout_seconds: int = 10
    # HMAC key of the audit chain; unset: on SQLite a random key kept beside the database file
    # (PATH.audit-key, mode 0600), on PostgreSQL nothing starts without it.
    audit_key: str | None = Field(default=None, min_length=16)
    # A snapshot that cannot be taken or read: "log" an error and go on from the events (a
    # snapshot is a cache), or "raise" it (the test suite sets this).
    snapshot_failures: SnapshotFailures = "log"
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
    # `serve` follows the log in a thread of its own (read models current between reads);
    # false where a `doseledger projections run` worker does it (docs/deployment.md).
    serve_follower: bool = True
    # The largest request body accepted (bytes); a larger one is a 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    # How long a read with X-Min-Position waits for the read models to reach it (then 409).
    min_position_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    # State-changing requests (POST, DELETE) one service process runs at once; unset: as
    # many as can write at once, 1 on SQLite (adapters.http.write_slots).
    write_threads: int | None = Field(default=None, ge=1, le=1000)

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
        """The eventsourcing library's environment for these settings
        (``adapters.persistence.environment``)."""
        return persistence_env(
            self.database_url,
            pool_size=self.postgres_pool_size,
            max_overflow=self.postgres_max_overflow,
            lock_timeout=self.postgres_lock_timeout_seconds,
            audit_key=self.audit_key,
            snapshot_failures=self.snapshot_failures,
        )
