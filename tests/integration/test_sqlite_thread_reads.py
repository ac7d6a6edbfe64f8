"""On a SQLite file, an aggregate's events are read on the calling thread's own connection: each
read sees every commit before it (whoever made it), errors are the library's, and closing the
ledger closes those connections. An in-memory database keeps the library's pool."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from eventsourcing.persistence import OperationalError

from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from adapters.persistence.sqlite_recorder import ChainedSQLiteApplicationRecorder
from domain.protocol import template
from domain.trial import Trial
from support import ADMIN


def test_each_read_sees_every_commit_before_it_from_any_thread(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    other = build_ledger(env=persistence_env(sqlite_url))  # its own connections, as a process
    try:
        assert isinstance(ledger.recorder, ChainedSQLiteApplicationRecorder)
        assert ledger.recorder.readers is not None
        trial_id = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
        assert ledger.load(Trial, trial_id).version == 1  # cached from now on
        other.enrol_patient(trial_id, "S01", ADMIN)
        versions: list[int] = []

        def load() -> None:
            versions.append(ledger.load(Trial, trial_id).version)

        worker = threading.Thread(target=load)
        worker.start()  # a thread with no connection yet
        worker.join()
        load()  # this thread's connection, opened before the other ledger's commit
        latest = other.load(Trial, trial_id).version
        assert latest > 1 and versions == [latest, latest]
        stored = ledger.recorder.select_events(trial_id, gt=0, lte=latest, desc=True, limit=1)
        assert [(e.originator_id, e.originator_version) for e in stored] == [(trial_id, latest)]
        assert ledger.recorder.select_events(trial_id, gt=latest) == []
    finally:
        other.close()
        ledger.close()


def test_closing_the_ledger_closes_the_threads_connections(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    trial_id = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
    readers = ledger.recorder.readers
    assert readers is not None
    ledger.recorder.select_events(trial_id)
    opened = list(readers._opened)
    assert opened
    ledger.close()
    for connection in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            connection.execute("SELECT 1")


def test_a_failed_read_is_the_librarys_error(sqlite_url: str) -> None:
    ledger = build_ledger(env=persistence_env(sqlite_url))
    try:
        recorder = ledger.recorder
        assert isinstance(recorder, ChainedSQLiteApplicationRecorder)
        recorder.select_events_statement = "SELECT * FROM no_such_table WHERE originator_id=? "
        with pytest.raises(OperationalError):
            recorder.select_events(
                ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
            )
    finally:
        ledger.close()


def test_an_in_memory_database_reads_through_the_pool() -> None:
    ledger = build_ledger(env=persistence_env("sqlite:///:memory:"))
    try:
        assert isinstance(ledger.recorder, ChainedSQLiteApplicationRecorder)
        assert ledger.recorder.readers is None
        trial_id = ledger.register_trial(template("defactinib-avutometinib"), ADMIN)
        assert ledger.load(Trial, trial_id).version == 1
    finally:
        ledger.close()
