"""The service layer: ``DoseLedger``, the application every client (HTTP, CLI, scheduler,
demo, tests) goes through.

- ``ledger``: the library's Application with our save, loading, caching and snapshots.
- ``trials``, ``patients``, ``corrections``: the commands, by what they change (load → command
  → one atomic ``record``), returning ids and plain values.
- ``queries``, ``exports``: plain data out (state, replay, audit trail, SDTM); ``packets``:
  the SRC packet of a trial (its record replayed up to an instant, bound to the audit chain).
- ``unit_of_work``: one request's loads, If-Match versions, claim fence and commits.
- ``aggregates``: every aggregate whose topics the store holds.
- Services over the ledger, typed on it: ``key_ring`` (API keys, ``api_keys``),
  ``reminder_tick`` (issues due reminders); ``idempotent_request`` is a legacy aggregate.
"""

from __future__ import annotations

from adapters.application.corrections import CorrectionCommands
from adapters.application.exports import Exports
from adapters.application.packets import Packets
from adapters.application.patients import PatientCommands
from adapters.application.trials import TrialCommands
from adapters.application.unit_of_work import UnitOfWork

__all__ = ["DoseLedger", "UnitOfWork"]


class DoseLedger(TrialCommands, PatientCommands, CorrectionCommands, Exports, Packets):
    """doseledger's application: every client (CLI, HTTP, demo, tests) goes through it."""

    name = "doseledger"
