"""A PostgreSQL server of the test's own, to stop and start under a running ``doseledger``.

The shared server on 127.0.0.1:5432 serves other engineers' tests: it is never restarted.
This one lives in a temporary folder (``initdb``), listens on a free port of 127.0.0.1 and a
socket folder of its own, trusts local connections, and is run as the ``postgres`` OS user
when the tests run as root (the server refuses root). Missing binaries skip the test locally
and fail it in CI (``CI`` or ``DOSELEDGER_REQUIRE_POSTGRES`` set), as the shared server does.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

START_SECONDS = 60.0  # a shared 2-core machine: generous, and only ever a bound
SERVER_USER = "postgres"


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (or the one on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A stopped-or-running server: ``start()``, ``stop()``, its ``url`` and ``conninfo``."""

    bin: Path
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres connect_timeout=2"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return argv

    def init(self) -> None:
        """``initdb`` a new cluster (trust authentication, user postgres)."""
        self.data.mkdir(parents=True)
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVER_USER)
            for path in (self.data, self.sockets):
                shutil.chown(path, SERVER_USER)
        subprocess.run(
            self._as_server_user(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        assert self.process is None or self.process.poll() is not None, "already running"
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            self._as_server_user(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=60",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                psycopg.connect(self.conninfo).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"private PostgreSQL did not start:\n{self.log()}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server at once (fast shutdown: every session is cut, as in a restart)."""
        if self.process is None or self.process.poll() is not None:
            return
        # pg_ctl, not a signal to our child: that is runuser, which would pass SIGTERM on
        # (a "smart" shutdown, waiting for every client to leave).
        subprocess.run(
            self._as_server_user(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"]
            ),
            check=False,
            capture_output=True,
            timeout=START_SECONDS,
        )
        try:
            self.process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def require_binaries() -> Path:
    """The PostgreSQL binaries: skip without them locally, fail in CI."""
    found = _binaries()
    if found is None:
        message = "PostgreSQL server binaries (initdb, postgres) are not installed"
        if os.environ.get("CI") or os.environ.get("DOSELEDGER_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.fail("the tests run as root and runuser is missing: cannot start PostgreSQL")
    return found


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server, running; stopped and deleted afterwards."""
    binaries = require_binaries()
    root = Path(tempfile.mkdtemp(prefix="doseledger-pg-"))
    server = PrivatePostgres(binaries, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
