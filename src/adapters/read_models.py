"""The composition root of the read models: the DoseLedger's events, tables in its database."""

from __future__ import annotations

from adapters.services import DoseLedger
from adapters.settings import Settings, persistence_env
from projections.follower import DEFAULT_BATCH_SIZE, DEFAULT_CACHE_SIZE, Projections
from projections.store import open_store


def build_projections(
    settings_or_url: Settings | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> Projections:
    """Read models in the database the settings (or a DOSELEDGER_DATABASE_URL) name.

    Events are read and decoded by a DoseLedger on the same environment (its recorder and
    mapper); the read-model tables live next to them (``rm_*`` in SQLite, ``doseledger_rm_*``
    in the PostgreSQL schema). ``close()`` closes both.
    """
    if isinstance(settings_or_url, str):
        env = persistence_env(settings_or_url)
    else:
        env = (settings_or_url or Settings()).persistence_env()
    app = DoseLedger(env=env)
    try:
        store = open_store(env)
    except BaseException:
        app.close()
        raise
    return Projections(
        app,
        store,
        batch_size=batch_size,
        cache_size=cache_size,
        reopen=DoseLedger,
        env=env,
        on_close=app.close,
    )
