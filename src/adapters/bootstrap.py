"""The composition root: builds the application from settings. No work at import time."""

from __future__ import annotations

from adapters.application import DoseLedger
from adapters.settings import Settings


def build_ledger(settings: Settings | None = None) -> DoseLedger:
    """A DoseLedger on the database that the settings name (SQLite file by default)."""
    settings = settings or Settings()
    return DoseLedger(env=settings.persistence_env(), clock=settings.clock())
