"""What wakes a process's read-model runner: PostgreSQL's NOTIFY, sent by the library's recorder.

The library's PostgreSQL application recorder sends ``NOTIFY <channel_name>`` in the
transaction of every insert of events (from any process), and its ``PostgresSubscription``
LISTENs on that channel in a thread of its own. :class:`PostgresWakeups` LISTENs the same
way but only wakes the runner, which then reads the new events once, in batches: the
subscription's own pull thread would read every event a second time.

A notification is delivered at commit; one that arrives while the runner is catching up
leaves the wake-up set, so the runner looks again. After a lost connection (the server
restarted) it logs once, reconnects with a growing pause (RECONNECT_SECONDS doubled, up to
RECONNECT_MAX_SECONDS), logs once when listening again, and wakes the runner then
(notifications sent meanwhile are lost, the runner reads what they announced).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

log = structlog.get_logger("doseledger.read_models")
# How long the listening thread waits on the socket before it checks whether it should stop.
LISTEN_TIMEOUT = 0.25
RECONNECT_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


class PostgresWakeups:
    """A thread that LISTENs on the recorder's channel and calls ``wake`` on each NOTIFY."""

    def __init__(self, conninfo: Mapping[str, Any], channel: str, wake: Callable[[], None]) -> None:
        self.conninfo = dict(conninfo)
        self.channel = channel
        self.wake = wake
        self.listening = threading.Event()  # set while LISTEN is in force
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening in a daemon thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._listen, name="read-models-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within LISTEN_TIMEOUT) and close the connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        failures = 0  # failed connections in a row
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**self.conninfo, autocommit=True) as connection:
                    connection.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    if failures:
                        log.warning("read models listening for new events again")
                        failures = 0
                    self.wake()  # whatever was recorded before LISTEN took effect
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=LISTEN_TIMEOUT, stop_after=1):
                            self.wake()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "read models stopped listening for new events; reconnecting",
                        error=(str(exc).strip().splitlines() or [type(exc).__name__])[0],
                    )
            finally:
                self.listening.clear()
            pause = RECONNECT_SECONDS * 2 ** max(0, failures - 1)
            self._stopping.wait(min(RECONNECT_MAX_SECONDS, pause))
