"""The ledger's stored events, to read only: the recorder and the mapper of the ledger's store.

A parallel rebuild's second process (``projections.parallel_rebuild``) reads the log and
decodes events, and nothing more: it opens this instead of the whole application, whose
services (keys, idempotency, webhooks, exports) it would import and build for nothing. The
recorder and the mapper are made as the ledger makes its own (``adapters.application.ledger``):
the same environment, infrastructure factory and transcodings, so events decode alike (a test
checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    JSONTranscoder,
    Mapper,
)
from eventsourcing.utils import Environment

from adapters.persistence.environment import LEDGER_NAME
from adapters.persistence.transcodings import register_transcodings


class EventLog:
    """A store's recorder and mapper, from the library environment a ledger is built with
    (over the process environment, as the ledger reads it)."""

    def __init__(self, *, env: Mapping[str, str]) -> None:
        environment = Environment(LEDGER_NAME, {**os.environ, **env})
        self.factory = InfrastructureFactory.construct(environment)
        transcoder = self.factory.transcoder()
        if isinstance(transcoder, JSONTranscoder):
            register_transcodings(transcoder)
        self.mapper: Mapper[Any] = self.factory.mapper(transcoder=transcoder)
        self.recorder: ApplicationRecorder = self.factory.application_recorder()

    def close(self) -> None:
        """Close the store's connections."""
        self.factory.close()
