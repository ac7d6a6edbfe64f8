"""Transcodings for the value types our events carry beyond the library's defaults."""

from __future__ import annotations

import datetime as dt

from eventsourcing.persistence import Transcoding


class DateAsISO(Transcoding):
    """Clinical dates (``datetime.date``) as ISO 8601 strings."""

    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)
