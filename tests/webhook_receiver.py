"""A real local HTTP receiver of webhooks (``http.server`` in a thread on 127.0.0.1).

Webhooks go only to public https addresses unless allowed: a test that delivers here calls
``allow_local_receiver(monkeypatch)`` (http, and 127.0.0.1 exempt from the address checks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.webhooks.targets import ALLOW_HTTP_VAR, ALLOWED_HOSTS_VAR


def allow_local_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let webhooks reach this module's receiver (http on 127.0.0.1) for one test."""
    monkeypatch.setenv(ALLOW_HTTP_VAR, "1")
    monkeypatch.setenv(ALLOWED_HOSTS_VAR, "127.0.0.1")


@dataclass
class Received:
    """One POST as the receiver saw it: headers (lower-case names) and the raw body."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """The Standard Webhooks signature check, without the timestamp's age (tests run on
        fixed clocks): HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the decoded secret."""
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = (
            f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode()
            + self.body
        )
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(
            hmac.compare_digest(f"v1,{expected}", given)
            for given in self.headers["webhook-signature"].split()
        )


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then ``then``), keeping what came."""

    url: str
    script: list[int] = field(default_factory=list)
    then: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.then


@contextmanager
def receiver(
    script: list[int] | None = None, *, then: int = 200, delay: float = 0.0
) -> Iterator[Receiver]:
    """A receiver listening on a free loopback port for the duration of the block."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.received.append(Received(headers, body))
            if state.delay:
                time.sleep(state.delay)
            status = state.answer()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    state = Receiver(f"http://{host}:{port}/hooks", list(script or []), then, delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
