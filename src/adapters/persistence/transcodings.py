"""Transcodings for the value types our events carry beyond the library's defaults."""

from __future__ import annotations

import datetime as dt

from eventsourcing.application import Application
from eventsourcing.persistence import Transcoder, Transcoding


class DateAsISO(Transcoding):
    """Clinical dates (``datetime.date``) as ISO 8601 strings."""

    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)


def register_transcodings(transcoder: Transcoder) -> None:
    """The ledger's transcodings: the library's defaults (its Application's) and ours."""
    Application.register_transcodings(Application, transcoder)  # type: ignore[arg-type]
    transcoder.register(DateAsISO())
