"""What the fault tests (``tests/faults``) share: a PostgreSQL database of their own per test
(dropped afterwards, so killing its connections or dropping it touches no other test), real
``doseledger serve`` processes on free ports, an admin key, and a client that retries a POST
with its Idempotency-Key until it is answered."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg import sql

from adapters.application import DoseLedger
from adapters.bootstrap import build_key_ring, build_ledger
from adapters.persistence.environment import persistence_env
from conftest import POSTGRES_URL, TEST_AUDIT_KEY, require_postgres
from processes import SCRIPT, Process, running, wait_until
from support import ADMIN, trial_ids

TRIAL = {"template_id": "defactinib-paclitaxel"}
RETRY_SECONDS = 45.0  # how long a client keeps retrying one request: a bound, never a timing


def _admin_conninfo() -> str:
    env = persistence_env(POSTGRES_URL)
    return (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} dbname=postgres "
        f"user={env['POSTGRES_USER']} password={env['POSTGRES_PASSWORD']} connect_timeout=3"
    )


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database URL of a new database on the test server, dropped (connections and all)
    afterwards. Sets DOSELEDGER_AUDIT_KEY for this process when unset."""
    require_postgres()
    os.environ.setdefault("DOSELEDGER_AUDIT_KEY", TEST_AUDIT_KEY)
    name = f"doseledger_fault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        drop_database(f"{base}/{name}")


def drop_database(url: str) -> None:
    """Drop a test database, ending every session on it (PostgreSQL 13+: WITH (FORCE))."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def env_of(url: str, **more: str) -> dict[str, str]:
    """The environment of a ``doseledger`` process on ``url``."""
    return {
        "DOSELEDGER_DATABASE_URL": url,
        "DOSELEDGER_AUDIT_KEY": os.environ["DOSELEDGER_AUDIT_KEY"],
        "DOSELEDGER_LOG_LEVEL": "INFO",
        "DOSELEDGER_POSTGRES_POOL_SIZE": "3",
        "DOSELEDGER_POSTGRES_MAX_OVERFLOW": "2",
        **more,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin_key(url: str) -> str:
    """A new admin API key's secret on the store at ``url`` (this also creates its tables)."""
    ledger = build_ledger(env=persistence_env(url))
    try:
        secret, _ = build_key_ring(ledger).issue("fault tests", "admin", None, ADMIN)
        return str(secret)
    finally:
        ledger.close()


@dataclass
class Api:
    """A running ``doseledger serve`` process and its base URL."""

    process: Process
    base: str

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@contextmanager
def serving(url: str, logs: Path, count: int, *flags: str) -> Iterator[list[Api]]:
    """``count`` ``doseledger serve --no-scheduler`` processes on ``url``, healthy."""
    with ExitStack() as stack:
        apis = []
        for i in range(count):
            port = free_port()
            argv = ["serve", "--no-scheduler", "--port", str(port), *flags]
            process = stack.enter_context(running(argv, env_of(url), logs / f"serve-{i}.log"))
            apis.append(Api(process, f"http://127.0.0.1:{port}"))
        for api in apis:
            wait_until(api.healthy, "a healthy service", api.process)
        yield apis


@dataclass
class Outcome:
    """What one key's request came to after its retries: the answers, in order."""

    key: str
    answers: list[Any]

    @property
    def final(self) -> Any:
        return self.answers[-1]

    @property
    def acknowledged(self) -> bool:
        return isinstance(self.final, int) and 200 <= self.final < 300

    @property
    def recorded(self) -> bool:
        """Told (409 request-recorded) that a killed process committed it, unanswered."""
        return self.final == "request-recorded"


def post_until_answered(
    client: httpx.Client, bases: list[str], secret: str, key: str, body: dict[str, Any]
) -> tuple[Outcome, dict[str, Any] | None]:
    """POST /trials with ``key`` to ``bases[0]``, then, after any transport error, 5xx or
    409 'in progress', to each base in turn until a 2xx or a final refusal; the 2xx body."""
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": key}
    answers: list[Any] = []
    deadline = time.monotonic() + RETRY_SECONDS
    attempt = 0
    while True:
        base = bases[attempt % len(bases)]
        attempt += 1
        try:
            response = client.post(f"{base}/trials", headers=headers, json=body)
        except httpx.TransportError as exc:
            answers.append(type(exc).__name__)
        else:
            kind = response.headers.get("content-type", "")
            problem = response.json().get("type", "") if "problem" in kind else ""
            if problem.endswith("/request-recorded"):
                answers.append("request-recorded")
                return Outcome(key, answers), response.json()
            answers.append(response.status_code)
            if 200 <= response.status_code < 300:
                return Outcome(key, answers), response.json()
            if response.status_code < 500 and not problem.endswith("/conflict"):
                return Outcome(key, answers), None
        if time.monotonic() > deadline:
            return Outcome(key, answers), None
        time.sleep(0.1)


def trials_by_name(ledger: DoseLedger) -> dict[str, list[UUID]]:
    """Every recorded trial's id, by its name (read from the log itself, not a read model)."""
    found: dict[str, list[UUID]] = {}
    for trial_id in trial_ids(ledger):
        found.setdefault(str(ledger.trial(trial_id)["name"]), []).append(trial_id)
    return found


def doseledger(url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a ``doseledger`` CLI command on ``url`` to its end."""
    return subprocess.run(
        [str(SCRIPT), *argv],
        env={**os.environ, **env_of(url, DOSELEDGER_LOG_LEVEL="WARNING")},
        capture_output=True,
        text=True,
        timeout=120,
    )
