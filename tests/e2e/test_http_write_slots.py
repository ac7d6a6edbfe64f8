"""State-changing requests run in the app's write slots; reads do not wait for them
(``adapters.http.write_slots``)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring
from adapters.http.write_slots import (
    SQLITE_WRITE_SLOTS,
    STATE_CHANGING,
    WriteSlots,
    write_slots,
)
from adapters.persistence.environment import persistence_env
from adapters.settings import Settings
from cli_runner import CliRunner
from domain.actors import Actor
from domain.protocol import template
from support import dosing

OPERATOR = Actor(user_id="ops", role="admin")


def api_routes(app: Any) -> list[APIRoute]:
    """Every route of the app's routers (FastAPI keeps included routers as they were)."""
    found: list[APIRoute] = [r for r in app.routes if isinstance(r, APIRoute)]
    for included in app.routes:
        contexts = getattr(included, "effective_route_contexts", None)
        if contexts is not None:
            found += [
                c.original_route for c in contexts() if isinstance(c.original_route, APIRoute)
            ]
    return found


def test_every_state_changing_route_runs_in_a_write_slot(ledger: DoseLedger) -> None:
    routes = api_routes(build_app(ledger))
    changing = [r for r in routes if r.methods & STATE_CHANGING]
    assert len(changing) >= 19  # the trial, patient and webhook commands
    for route in changing:
        # A coroutine that runs the route's own function in a worker thread, in a slot.
        assert route.endpoint.__wrapped__ is not route.endpoint, route.path
        assert not hasattr(route.endpoint.__wrapped__, "__wrapped__"), route.path
    for route in routes:
        if not route.methods & STATE_CHANGING:
            assert not hasattr(route.endpoint, "__wrapped__"), route.path  # the default pool


def test_a_write_waits_for_a_free_slot_and_records_nothing_meanwhile_while_reads_go_on(
    ledger: DoseLedger,
) -> None:
    _, (pid,) = dosing(ledger, template("defactinib-avutometinib"))
    key = build_key_ring(ledger).issue("inv", "investigator", "S01", OPERATOR)[0]
    headers = {"Authorization": f"Bearer {key}"}
    app = build_app(ledger, settings=Settings(write_threads=1))
    assert app.state.write_slots.total == 1
    head = ledger.recorder.max_notification_id()
    answers: list[Any] = []
    body = {"term": "Fatigue", "grade": 1, "onset": "2026-03-04", "attribution": "unrelated"}
    gate = threading.Event()
    with TestClient(app) as client:
        assert client.portal is not None
        slots = app.state.write_slots
        client.portal.start_task_soon(slots.run, gate.wait)  # the one write thread taken
        writer = threading.Thread(
            target=lambda: answers.append(
                client.post(f"/patients/{pid}/adverse-events", json=body, headers=headers)
            )
        )
        writer.start()
        deadline = time.monotonic() + 10
        while slots.queued < 1:
            assert time.monotonic() < deadline, "the write never queued for a slot"
            time.sleep(0.01)
        # Queued: nothing recorded, and a read is answered meanwhile.
        assert ledger.recorder.max_notification_id() == head
        assert client.get(f"/patients/{pid}", headers=headers).status_code == 200
        assert not answers
        gate.set()
        writer.join(timeout=30)
    assert [a.status_code for a in answers] == [201]
    assert (ledger.recorder.max_notification_id() or 0) > (head or 0)
    assert answers[0].json()["adverse_events"][-1]["term"] == "Fatigue"


def test_queued_writes_run_in_arrival_order_with_the_callers_context() -> None:
    slots = WriteSlots(1)
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    ran: list[tuple[int, str, str]] = []
    gate = threading.Event()

    def write(n: int) -> int:
        ran.append((n, request_id.get(), threading.current_thread().name))
        return n * 10

    async def request(n: int) -> int:
        request_id.set(f"req-{n}")
        return await slots.run(lambda: write(n))

    async def main() -> list[int]:
        held = asyncio.ensure_future(slots.run(gate.wait))
        tasks = []
        for n in range(5):
            tasks.append(asyncio.ensure_future(request(n)))
            await asyncio.sleep(0)  # each handed over before the next
        while slots.queued < 5:
            await asyncio.sleep(0.01)
        assert not ran  # every one waits for the thread the gate holds
        gate.set()
        await held
        return list(await asyncio.gather(*tasks))

    try:
        assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    finally:
        slots.close()
    assert [(n, rid) for n, rid, _ in ran] == [(n, f"req-{n}") for n in range(5)]
    assert {name for _, _, name in ran} == {"doseledger-write_0"}
    assert slots.queued == 0
    # Closed (the app shut down), a later write gets a new pool.
    assert asyncio.run(slots.run(lambda: "again")) == "again"
    slots.close()


def test_a_write_cancelled_while_queued_never_runs() -> None:
    slots = WriteSlots(1)
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        held = asyncio.ensure_future(slots.run(gate.wait))
        queued = asyncio.ensure_future(slots.run(lambda: ran.append("queued")))
        while slots.queued < 1:
            await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        gate.set()
        await held

    try:
        asyncio.run(main())
    finally:
        slots.close()
    assert ran == [] and slots.queued == 0


@pytest.mark.parametrize("fails", [False, True], ids=["commits", "raises"])
def test_a_write_cancelled_while_it_runs_is_waited_for_before_cancelling(fails: bool) -> None:
    slots = WriteSlots(1)
    started, release = threading.Event(), threading.Event()
    ended: list[str] = []

    def write() -> None:
        started.set()
        release.wait(10)
        ended.append("committed")
        if fails:  # its error does not replace the cancellation
            raise RuntimeError("refused")

    async def main() -> None:
        running = asyncio.ensure_future(slots.run(write))
        while not started.is_set():
            await asyncio.sleep(0.01)
        running.cancel()
        await asyncio.sleep(0.05)
        running.cancel()  # cancelled again while it waits: still waits
        await asyncio.sleep(0.05)
        assert not running.done() and ended == []
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert ended == ["committed"]

    try:
        asyncio.run(main())
    finally:
        slots.close()


def test_write_slots_are_the_setting_or_as_many_as_can_write_at_once() -> None:
    sqlite = persistence_env("sqlite:///./x.db")
    postgres = persistence_env(
        "postgresql://postgres@127.0.0.1:5432/test", pool_size=3, max_overflow=4, lock_timeout=5
    )
    assert write_slots(Settings(), sqlite) == SQLITE_WRITE_SLOTS == 1  # one writer
    # A connection each of those the pool keeps open; the overflow stays for the reads.
    assert write_slots(Settings(), postgres) == 3
    assert write_slots(Settings(write_threads=5), sqlite) == 5
    assert write_slots(Settings(write_threads=5), postgres) == 5


@pytest.mark.parametrize("value", ["0", "-1", "two", "1001"])
def test_a_write_threads_setting_out_of_range_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOSELEDGER_WRITE_THREADS", value)
    with pytest.raises(ValidationError, match="write_threads"):
        Settings()


def test_serve_refuses_a_bad_write_threads_setting_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.db"
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", f"sqlite:///{store}")
    monkeypatch.setenv("DOSELEDGER_WRITE_THREADS", "0")
    code, out, err = CliRunner(capsys).run("serve", "--port", "18999")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("doseledger: error: setting DOSELEDGER_WRITE_THREADS:")
    assert not store.exists()
