"""Every log line is one JSON object, whichever threads write at once: ours (structlog) and
the libraries' (stdlib logging, e.g. APScheduler's job lines beside a scheduler's own)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time

import pytest
import structlog


class YieldingStream(io.StringIO):
    """A stream that lets other threads run at every write, as a slow pipe or file does."""

    def write(self, text: str) -> int:
        time.sleep(0.0001)
        return super().write(text)


def test_lines_of_structlog_and_of_libraries_written_at_once_never_share_a_line(
    info_logs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = YieldingStream()
    monkeypatch.setattr(sys, "stderr", stream)  # in the test's own call: pytest set its own
    ours = structlog.get_logger("doseledger.test")
    library = logging.getLogger("apscheduler.executors.default")
    per_thread = 100
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            if n % 2:
                ours.info("reminder already issued", reminder_id=f"{n}-{i}")
            else:
                library.info('Job "%s" executed successfully', f"{n}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    lines = stream.getvalue().splitlines()
    parsed = [json.loads(line) for line in lines]  # one object a line: no "Extra data"
    assert len(parsed) == 8 * per_thread
    assert sum(1 for p in parsed if p.get("logger") == "apscheduler.executors.default") == (
        4 * per_thread
    )
