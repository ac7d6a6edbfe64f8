"""The aggregate cache (``adapters.persistence.caching``): what is in it is never changed.

A command's saved aggregates become the cached ones, so the next command on them reads no
event; a fast-forward puts a copy with the newer events in place of the cached aggregate; a
command is handed a copy, also within a unit of work that saved or read the cached one. So a
save that fails leaves nothing of its changes in the cache, and a query reading the cached
aggregate never sees it change under it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.application import DoseLedger, UnitOfWork
from adapters.bootstrap import build_ledger
from adapters.persistence.environment import persistence_env
from domain.errors import ConcurrencyConflict, DomainError
from domain.protocol import template
from projections.patient_state import patient_summary
from support import INVESTIGATOR, ae, day, dosing

TERMS = ("Fatigue", "Nausea", "Diarrhea", "Rash maculo-papular", "Vomiting", "Anorexia")


def cached(ledger: DoseLedger, ident: UUID) -> Any:
    """The aggregate the ledger's cache holds (KeyError when none)."""
    cache = ledger.repository.cache
    assert cache is not None
    return cache.get(ident)


def test_a_saved_patient_is_the_cached_one_and_the_next_command_reads_no_event(
    ledger: DoseLedger,
) -> None:
    trial_id, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    decode = ledger.mapper.to_domain_event
    with patch.object(ledger.mapper, "to_domain_event", wraps=decode) as decoded:
        ae(ledger, pid, "Fatigue", 1, 2)
        ae(ledger, pid, "Nausea", 1, 3)
    assert decoded.call_count == 0  # patient and trial from the cache as last saved
    assert cached(ledger, pid).version == ledger.patient(pid)["version"]
    assert cached(ledger, trial_id).version == ledger.trial(trial_id)["version"]


def test_a_fast_forward_puts_a_copy_in_place_of_the_cached_patient(
    two_ledgers: list[DoseLedger],
) -> None:
    mine, other = two_ledgers
    _, (pid,) = dosing(mine, template("defactinib-avutometinib"))
    ae(mine, pid, "Fatigue", 1, 2)
    before = cached(mine, pid)
    seen = patient_summary(before)
    ae(other, pid, "Nausea", 1, 3)  # another process's write
    assert [a["term"] for a in mine.patient(pid)["adverse_events"]] == ["Fatigue", "Nausea"]
    assert patient_summary(before) == seen  # the object that was cached is unchanged
    assert cached(mine, pid) is not before
    assert cached(mine, pid).version == mine.patient(pid)["version"] > before.version


def test_a_save_that_fails_leaves_nothing_of_its_changes_in_the_cache(
    two_ledgers: list[DoseLedger],
) -> None:
    mine, other = two_ledgers
    _, (pid,) = dosing(mine, template("defactinib-avutometinib"))
    uow = UnitOfWork()
    ae_id = UUID(
        mine.record_adverse_event(pid, report("Fatigue", 1, 2), INVESTIGATOR, uow=uow)["ae_id"]
    )
    saved = cached(mine, pid)
    assert uow.loaded[pid] is saved  # the unit of work still reads what it saved
    seen = patient_summary(saved)
    ae(other, pid, "Nausea", 1, 3)  # meanwhile, another process
    # A second command in the same unit of work changes a copy; its save loses the race.
    with pytest.raises(ConcurrencyConflict):
        mine.change_ae_grade(pid, ae_id, 0, day(4), INVESTIGATOR, uow=uow)
    assert patient_summary(saved) == seen
    assert uow.loaded[pid] is not saved
    assert mine.patient(pid) == other.patient(pid)
    assert [(a["term"], a["grade"]) for a in mine.patient(pid)["adverse_events"]] == [
        ("Fatigue", 1),
        ("Nausea", 1),
    ]


def report(term: str, grade: int, onset: int) -> Any:
    from domain.ae_report import AdverseEventReport

    return AdverseEventReport(term=term, grade=grade, onset=day(onset), attribution="possible")


# ------------------------------------------------------- random interleavings of two processes


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A fresh SQLite file for each call (each hypothesis example)."""
    counter = itertools.count()
    yield lambda: f"sqlite:///{tmp_path}/cache-{next(counter)}.db"


Step = tuple[int, str, int, bool]  # ledger, command, argument, in a shared unit of work

steps = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(["ae", "ae", "resolve", "read", "dose"]),
        st.integers(0, len(TERMS) - 1),
        st.booleans(),
    ),
    min_size=4,
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_two_processes_commands_in_any_order_leave_each_cache_as_the_store_says(
    store: Callable[[], str], sequence: list[Step]
) -> None:
    url = store()
    ledgers = [build_ledger(env=persistence_env(url)) for _ in range(2)]
    # The store's truth: a ledger with no aggregate cache.
    truth = build_ledger(env={**persistence_env(url), "AGGREGATE_CACHE_MAXSIZE": ""})
    assert truth.repository.cache is None
    try:
        _, (pid,) = dosing(ledgers[0], template("defactinib-avutometinib"))
        works = [UnitOfWork(), UnitOfWork()]
        frozen: list[tuple[Any, dict[str, Any]]] = []  # cached objects and what they held
        for n, (which, command, arg, shared) in enumerate(sequence):
            ledger = ledgers[which]
            uow = works[which] if shared else None
            try:
                run(ledger, pid, command, arg, n, uow)
            except (DomainError, ConcurrencyConflict):
                works[which] = UnitOfWork()  # a refused request's unit of work ends with it
            for each in ledgers:
                try:
                    held = cached(each, pid)
                except KeyError:
                    continue
                frozen.append((held, patient_summary(held)))
            expected = truth.patient(pid)
            for each in ledgers:
                assert each.patient(pid) == expected
        for held, seen in frozen:
            assert patient_summary(held) == seen  # nothing in a cache was ever changed
    finally:
        for each in (*ledgers, truth):
            each.close()


def run(
    ledger: DoseLedger, pid: UUID, command: str, arg: int, n: int, uow: UnitOfWork | None
) -> None:
    """One step of the random sequence (refusals raise DomainError)."""
    if command == "ae":
        ledger.record_adverse_event(pid, report(TERMS[arg], 1, 2 + n), INVESTIGATOR, uow=uow)
    elif command == "resolve":
        open_aes = [a for a in ledger.patient(pid)["adverse_events"] if a["grade"]]
        if open_aes:
            ae_id = UUID(open_aes[arg % len(open_aes)]["id"])
            ledger.change_ae_grade(pid, ae_id, 0, day(2 + n), INVESTIGATOR, uow=uow)
    elif command == "dose":
        ledger.administer_dose(pid, day(2 + n), INVESTIGATOR, uow=uow)
    else:
        ledger.patient(pid, uow=uow)


def test_threads_fast_forwarding_one_cached_patient_at_once_each_see_every_event(
    two_ledgers: list[DoseLedger],
) -> None:
    """Six threads load a patient whose cached copy is behind another process's writes, at
    once: each reads every event, the object that was cached is unchanged (each fast-forward
    applies the newer events to a copy), and the next load is the latest."""
    import threading

    mine, other = two_ledgers
    _, (pid,) = dosing(mine, template("defactinib-avutometinib"))
    ae(mine, pid, "Fatigue", 1, 2)
    before = cached(mine, pid)
    seen = patient_summary(before)
    for k, term in enumerate(TERMS[1:4]):
        ae(other, pid, term, 1, 3 + k)  # another process's writes: the cache is behind
    latest = other.patient(pid)
    start = threading.Barrier(6)
    read: list[dict[str, Any]] = []

    def load() -> None:
        start.wait()
        read.append(patient_summary(mine.repository.get(pid, share=True)))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read == [patient_summary(other.repository.get(pid, share=True))] * 6
    assert patient_summary(before) == seen
    assert cached(mine, pid) is not before
    assert mine.patient(pid) == latest
