"""Structured JSON logs (structlog) on stderr; no patient identifiers beyond pseudonymous ids."""

from __future__ import annotations

import logging
import sys

import structlog

from domain.errors import InvalidInput


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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
