"""An event stream opened with a key ends soon after the key is revoked (a real uvicorn server:
the test reads the stream as it comes, which the in-process TestClient cannot)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.application import DoseLedger
from adapters.bootstrap import build_app, build_key_ring
from adapters.http.routes.feed import KEY_CHECK_SECONDS
from domain.protocol import template
from processes import DEADLINE_SECONDS
from support import ADMIN

# The key is checked every KEY_CHECK_SECONDS; the rest is a loaded machine's slack.
ENDS_WITHIN_SECONDS = KEY_CHECK_SECONDS + 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn in a thread of this process, on a free localhost port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=_free_port(), log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE_SECONDS)


@pytest.mark.parametrize("role", ["integration", "admin"])
def test_a_stream_ends_within_seconds_of_its_keys_revocation(ledger: DoseLedger, role: str) -> None:
    ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    ring = build_key_ring(ledger)
    secret, key = ring.issue("feed reader", role, None, ADMIN)
    auth = {"Authorization": f"Bearer {secret}"}
    app = build_app(ledger)
    app.state.feed_poll_seconds = 0.1
    app.state.feed_stream_seconds = 30.0  # without the key checks, a stream would last this long
    with serving(app) as base:
        timeout = httpx.Timeout(DEADLINE_SECONDS)
        with httpx.stream("GET", f"{base}/events/stream", headers=auth, timeout=timeout) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert any(line.startswith("id:") for line in lines)  # the trial's first event
            ring.revoke(key["id"], "left the study", ADMIN)
            revoked = time.monotonic()
            for _ in lines:  # until the server ends the stream
                pass
            took = time.monotonic() - revoked
        assert took < ENDS_WITHIN_SECONDS, f"the stream went on {took:.1f} s after revocation"
        # EventSource reconnects: the revoked key is refused.
        assert httpx.get(f"{base}/events/stream", headers=auth).status_code == 401


def test_a_live_keys_stream_is_not_cut_by_its_checks(ledger: DoseLedger) -> None:
    ledger.register_trial(template("defactinib-paclitaxel"), ADMIN)
    secret, _ = build_key_ring(ledger).issue("feed reader", "monitor", None, ADMIN)
    app = build_app(ledger)
    app.state.feed_poll_seconds = 0.05
    app.state.feed_key_check_seconds = 0.05
    app.state.feed_stream_seconds = 1.0
    started = time.monotonic()
    response = TestClient(app).get("/events/stream", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 1.0  # ran to its end, through many key checks
    assert "event: Registered" in response.text
