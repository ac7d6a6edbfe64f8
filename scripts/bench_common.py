"""What the bench_* scripts share: the --backend and --postgres-url arguments, the loop over
backends, a fresh store per workload (a temporary SQLite file or a PostgreSQL schema, removed
afterwards) and the ratios they print. Each script keeps its own workloads, CLI and output."""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from adapters.persistence.environment import persistence_env
from domain.errors import InvalidInput

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")


class Unreachable(Exception):
    """The backend's database cannot be reached; its benchmark is skipped."""


def add_backend_arguments(
    parser: argparse.ArgumentParser, *, default: str = "both", postgres_help: bool = True
) -> None:
    """``--backend sqlite|postgres|both`` and ``--postgres-url``."""
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default=default)
    help_ = (
        f"server and database to create throwaway schemas in (default {DEFAULT_POSTGRES_URL})"
        if postgres_help
        else None
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help=help_)


def check_postgres_url(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a --postgres-url that names a schema or that doseledger cannot read."""
    if args.backend != "sqlite":
        if urlsplit(args.postgres_url).query:
            parser.error("--postgres-url names server and database only; schemas are made here")
        try:
            persistence_env(args.postgres_url)
        except InvalidInput as exc:
            parser.error(str(exc))


def backends(args: argparse.Namespace) -> list[str]:
    """The backends --backend names, in order."""
    return list(BACKENDS) if args.backend == "both" else [args.backend]


def each_backend(
    args: argparse.Namespace,
    run: Callable[[str], dict[str, Any]],
    *,
    width: int = 9,
    failures: tuple[type[Exception], ...] = (),
) -> tuple[dict[str, Any], bool]:
    """``run(backend)`` for each backend: its figures, ``{"skipped": why}`` where the database
    cannot be reached, ``{"failed": why}`` for one of ``failures``; and whether any failed."""
    report: dict[str, Any] = {}
    failed = False
    for backend in backends(args):
        try:
            report[backend] = run(backend)
        except Unreachable as exc:
            print(f"{backend:<{width}} skipped: {exc}\n")
            report[backend] = {"skipped": str(exc)}
        except failures as exc:
            print(f"{backend:<{width}} failed: {exc}\n")
            report[backend] = {"failed": str(exc)}
            failed = True
    return report, failed


def conninfo(url: str) -> dict[str, Any]:
    """psycopg connection arguments for a doseledger PostgreSQL URL."""
    env = persistence_env(url)
    return {
        "host": env["POSTGRES_HOST"],
        "port": int(env["POSTGRES_PORT"]),
        "dbname": env["POSTGRES_DBNAME"],
        "user": env["POSTGRES_USER"],
        "password": env["POSTGRES_PASSWORD"] or None,
        "connect_timeout": 3,
    }


@contextmanager
def sqlite_store(label: str, *, keep: str | None = None) -> Iterator[str]:
    """A database URL for a fresh SQLite file, deleted afterwards (``keep``: this file, kept)."""
    if keep:
        yield f"sqlite:///{Path(keep).expanduser().resolve()}"
        return
    with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as folder:
        yield f"sqlite:///{folder}/{label}.db"


@contextmanager
def postgres_store(base_url: str, label: str, *, keep: str | None = None) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped afterwards (``keep``: this
    schema, made if missing and kept)."""
    schema = keep or f"bench_{label}_{uuid.uuid4().hex[:12]}"
    # A PostgreSQL store's audit chain needs a secret key; a throwaway schema gets a throwaway
    # key unless the caller set one (a kept schema needs the same key on every run).
    os.environ.setdefault("DOSELEDGER_AUDIT_KEY", secrets.token_hex(32))
    try:
        with psycopg.connect(**conninfo(base_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or ["no detail"])[0]
        raise Unreachable(f"PostgreSQL at {base_url} is unreachable: {first_line}") from None
    try:
        yield f"{base_url}?schema={schema}"
    finally:
        if not keep:
            with psycopg.connect(**conninfo(base_url), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def store(
    backend: str, label: str, postgres_url: str, *, keep: str | None = None
) -> AbstractContextManager[str]:
    """A fresh, separate store of the given backend for one workload."""
    if backend == "sqlite":
        return sqlite_store(label, keep=keep)
    return postgres_store(postgres_url, label, keep=keep)


def ratio(numerator: float, denominator: float, digits: int = 3) -> float:
    """``numerator / denominator`` rounded as the scripts print it (0.0 over nothing)."""
    return round(numerator / denominator, digits) if denominator > 0 else 0.0
