"""Which read models a failure stops, and which errors are the database's (retried) rather than
a read model's (recorded)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from projections.failures import failure_of, is_store_error, stopped_models

READS_FROM = {
    "directory": [],
    "cohort_summary": [],
    "reminder_index": ["cohort_summary"],
    "safety_table": ["directory"],
    "patient_timeline": ["directory"],
    "late": ["reminder_index"],
}


def test_a_failure_stops_its_read_model_and_every_one_reading_from_it_transitively() -> None:
    failure = failure_of("cohort_summary", 7, "t", "o", 1, ValueError("boom"))
    stopped = stopped_models({"cohort_summary": failure}, READS_FROM)
    assert set(stopped) == {"cohort_summary", "reminder_index", "late"}
    assert stopped["late"].failure is failure
    assert "cohort_summary stopped at event 7" in stopped["cohort_summary"].reason
    assert "ValueError: boom" in stopped["cohort_summary"].reason
    assert "reads from cohort_summary" in stopped["late"].reason
    assert stopped_models({}, READS_FROM) == {}


def test_an_error_is_cut_to_its_first_line() -> None:
    failure = failure_of("directory", 1, "t", "o", 1, RuntimeError("first\nsecond"))
    assert failure.error == "RuntimeError: first"


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        psycopg.OperationalError("the connection is lost"),
        OperationalError("server closed the connection"),
    ],
)
def test_the_databases_errors_are_passing(error: Exception) -> None:
    assert is_store_error(error)


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("no such column: grade"),
        psycopg.errors.UndefinedColumn("column grade does not exist"),
        ValueError("year 10000 is out of range"),
        KeyError("term"),
    ],
)
def test_a_read_models_own_errors_are_not(error: Exception) -> None:
    assert not is_store_error(error)
