"""Real ``doseledger`` processes for the tests: start one with its JSON logs in a file, poll
its logs with a generous deadline (never a timed assertion), stop it with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(sys.executable).with_name("doseledger")
DEADLINE_SECONDS = 120.0  # a shared 2-core machine: generous, and only ever a bound


@dataclass
class Process:
    """A running ``doseledger`` command and the file its stdout and stderr go to."""

    popen: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (other output is skipped)."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log lines whose ``event`` is ``name``."""
        return [line for line in self.lines() if line.get("event") == name]

    def stop(self) -> int:
        """SIGTERM, then wait for the exit; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"did not stop on SIGTERM:\n{self.tail()}") from None

    def tail(self) -> str:
        return self.log.read_text()[-3000:]


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    """``doseledger ARGV`` with ``env`` added to this process's environment; killed if left."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(SCRIPT), *argv],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process = Process(popen, log)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def wait_until(check: Callable[[], bool], what: str, *processes: Process) -> None:
    """Poll ``check`` until it holds; fail (with the logs) after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not check():
        for process in processes:
            if process.popen.poll() is not None:
                raise AssertionError(f"exited while waiting for {what}:\n{process.tail()}")
        if time.monotonic() > deadline:
            logs = "\n---\n".join(p.tail() for p in processes)
            raise AssertionError(f"no {what} within {DEADLINE_SECONDS} s:\n{logs}")
        time.sleep(0.2)
