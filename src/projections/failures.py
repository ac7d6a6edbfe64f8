"""Read models that stopped: an event one could not process, recorded in the store.

A handler that raises on an event (a bug, or an event stored by an older version that the
code no longer reads) must not stop the whole read side. The runner (``projections.runner``)
records the failure here, in a transaction of its own, and stops feeding that read model, and
every read model that looks things up in it (its *dependants*: they would read a view frozen
at the failed event), until ``projections retry`` clears the row: the model then resumes from
its tracking position, which is just before the failed event (the failed batch was rolled
back for it), so nothing is skipped or processed twice.

Why a whole read model, not only the failed trial's rows: a read model's rows are a function
of the log in order, and several look other aggregates up (a patient's trial, its cohort,
the directory). Skipping one trial's events while going on with the others, then giving the
skipped ones later, out of the log's order, would give rows that no rebuild gives (``check``
would report them), and a patient can move the rows of the trial it is enrolled in. Stopping
the read model is the containment that keeps "every event once, in order".

The rows live in the read-model store (``failures``), shared by every process following
the same store: one process's failure stops the read model in every process, and a retry by
the CLI resumes it everywhere (each runner reads the rows at the start of each catch-up).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from projections.store import Store, Table, Transaction

FAILURES = Table(
    "failures",
    (
        ("name", "text"),
        ("position", "int"),
        ("topic", "text"),
        ("originator_id", "text"),
        ("originator_version", "int"),
        ("error", "text"),
        ("failed_at", "text"),
    ),
    key=("name",),
)
_COLUMNS = ", ".join(FAILURES.column_names)
ERROR_CHARS = 2000
# SQLite errors of the database's state, not of a statement: retried, never a model's failure.
_SQLITE_PASSING = (
    "locked",
    "busy",
    "disk",
    "unable to open",
    "readonly",
    "interrupted",
)  # the error as recorded: its type and message, cut to this length


@dataclass(frozen=True)
class Failure:
    """A read model stopped at an event it could not process."""

    read_model: str
    position: int
    topic: str
    originator_id: str
    originator_version: int
    error: str
    failed_at: str

    def as_json(self) -> dict[str, Any]:
        """The failure as the CLI, /readyz and the logs show it."""
        return asdict(self)


@dataclass(frozen=True)
class Stopped:
    """A read model that is not fed: it failed itself, or one it reads from did."""

    read_model: str
    failure: Failure  # the failure that stopped it (of another model, for a dependant)

    @property
    def reason(self) -> str:
        """One line: why the read model is stopped."""
        failure = self.failure
        at = (
            f"event {failure.position} ({failure.topic} of {failure.originator_id} "
            f"v{failure.originator_version})"
        )
        if failure.read_model == self.read_model:
            return f"read model {self.read_model} stopped at {at}: {failure.error}"
        return (
            f"read model {self.read_model} stopped: it reads from {failure.read_model}, "
            f"which stopped at {at}"
        )

    def as_json(self) -> dict[str, Any]:
        """The stopped model, its reason and the failure behind it."""
        return {"read_model": self.read_model, "reason": self.reason, **_of(self.failure)}


def _of(failure: Failure) -> dict[str, Any]:
    return {k: v for k, v in failure.as_json().items() if k != "read_model"} | {
        "failed_read_model": failure.read_model
    }


class ReadModelStopped(Exception):
    """A query needs read models that are stopped (HTTP 503, with the reason)."""

    def __init__(self, stopped: Sequence[Stopped]) -> None:
        self.stopped = list(stopped)
        super().__init__("; ".join(s.reason for s in self.stopped))


def failure_of(
    name: str,
    position: int,
    topic: str,
    originator_id: Any,
    originator_version: int,
    error: BaseException,
) -> Failure:
    """The failure of read model ``name`` on one event, now."""
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0][:ERROR_CHARS]
    return Failure(
        name,
        position,
        topic,
        str(originator_id),
        originator_version,
        text,
        dt.datetime.now(dt.UTC).isoformat(),
    )


def record(store: Store, failures: Iterable[Failure]) -> list[Failure]:
    """Record failures (in a transaction of their own); returns those that were not already
    recorded (another process may have recorded the same first)."""
    table = store.qualified(FAILURES.name)
    new = []
    with store.transaction() as tx:
        for failure in failures:
            if tx.fetchone(f"SELECT 1 FROM {table} WHERE name = ?", (failure.read_model,)):
                continue
            tx.execute(
                f"INSERT INTO {table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                tuple(failure.as_json().values()),
            )
            new.append(failure)
    return new


def load(tx: Transaction) -> dict[str, Failure]:
    """Every recorded failure, by read model."""
    table = tx.store.qualified(FAILURES.name)
    rows = tx.fetchall(f"SELECT {_COLUMNS} FROM {table} ORDER BY name")
    return {row[0]: Failure(*row) for row in rows}


def clear(store: Store, names: Sequence[str] | None) -> list[Failure]:
    """Delete the failures of ``names`` (every one when None); returns those deleted."""
    table = store.qualified(FAILURES.name)
    with store.transaction() as tx:
        found = load(tx)
        gone = [f for name, f in found.items() if names is None or name in names]
        tx.executemany(f"DELETE FROM {table} WHERE name = ?", [(f.read_model,) for f in gone])
    return gone


def stopped_models(
    failures: Mapping[str, Failure], reads_from: Mapping[str, Sequence[str]]
) -> dict[str, Stopped]:
    """Every read model that must not be fed: the failed ones, and those that read from a
    stopped one (``reads_from``: each model's names of the models it looks things up in)."""
    stopped = {name: Stopped(name, failure) for name, failure in failures.items()}
    changed = True
    while changed:
        changed = False
        for name, providers in reads_from.items():
            if name in stopped:
                continue
            for provider in providers:
                if provider in stopped:
                    stopped[name] = Stopped(name, stopped[provider].failure)
                    changed = True
                    break
    return stopped


def is_store_error(exc: BaseException) -> bool:
    """True for a failure of the database itself (connection lost, server restarting, lock
    timeout): retried later, never recorded as a read model's failure."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(exc, sqlite3.InterfaceError):
        return True
    if isinstance(exc, sqlite3.OperationalError):  # not a bad statement ("no such column")
        return any(word in str(exc).lower() for word in _SQLITE_PASSING)
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    psycopg = sys.modules.get("psycopg")  # loaded only where PostgreSQL is used
    return psycopg is not None and isinstance(
        exc, psycopg.OperationalError | psycopg.InterfaceError
    )
