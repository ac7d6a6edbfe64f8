"""Structured JSON logs (structlog) on stderr; no patient identifiers beyond pseudonymous ids."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import structlog

from domain.errors import InvalidInput

_WRITE_LOCK = threading.RLock()
"""One lock for every log line, ours (structlog) and the libraries' (stdlib logging): each line
is written whole. structlog's PrintLogger printed a line and its newline in two writes under a
lock of its own, and a library's line from another thread could land between them: two JSON
objects on one line (a scheduler's "reminder already issued" and APScheduler's job line)."""


class _LineLogger:
    """structlog's logger: the line and its newline in one write, under the shared lock."""

    def msg(self, message: str) -> None:
        stream = sys.stderr  # the current one (tests and daemons replace it)
        with _WRITE_LOCK:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that always writes to the current sys.stderr, under the lock shared
    with structlog's lines."""

    def createLock(self) -> None:
        self.lock = _WRITE_LOCK

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """Send structlog and stdlib logging as JSON lines to stderr at the given level."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise InvalidInput(f"DOSELEDGER_LOG_LEVEL: unknown log level '{level}'", field="log_level")
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolve sys.stderr at each use, not once: it may be replaced (tests, daemons).
        logger_factory=lambda *_: _LineLogger(),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # A library's logger.exception (APScheduler's failed job): the traceback as text.
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
            # Library records (uvicorn, APScheduler) say whose they are.
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
