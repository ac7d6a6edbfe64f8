"""An Idempotency-Key's claim, checked and marked in the transaction that records events.

A request that holds a key's claim (``adapters.http.idempotency``) commits its events together
with ``state = 'committed'`` on the key's row, where the row still carries the request's own
token. So a process that dies between its commit and keeping its answer leaves a row that says
the request was recorded (and what it recorded): a retry is told so, and never runs it again.
And a process whose claim was taken over (its lease ran out while it was stalled) cannot commit
at all: the token is a fencing token, and a stale one rolls the events back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent

from domain.errors import ConcurrencyConflict

KWARG = "idempotency_claim"
"""The ``save``/``insert_events`` keyword that carries the claim to the recorder."""


class ClaimLost(ConcurrencyConflict):
    """The key's claim is not this request's any more: its events are not recorded."""


@dataclass
class ClaimFence:
    """Where a claim is (its table, schema-qualified) and whose it is (principal, key, token);
    what the request recorded so far (each aggregate's last version, over its commits)."""

    table: str
    principal: str
    key: str
    token: str
    lease_seconds: float
    recorded: dict[str, int] = field(default_factory=dict)

    def statement(self, placeholder: str) -> str:
        """The UPDATE that marks the claim committed, in a driver's placeholder style."""
        p = placeholder
        return (
            f"UPDATE {self.table} SET state = 'committed', body = {p}, lease_until = {p} "
            f"WHERE principal = {p} AND idem_key = {p} AND token = {p} "
            "AND state IN ('claimed', 'committed')"
        )

    def parameters(self, stored_events: Sequence[StoredEvent], now: float) -> tuple[Any, ...]:
        """The statement's values: what the request recorded, this commit included."""
        for stored in stored_events:
            self.recorded[str(stored.originator_id)] = stored.originator_version
        return (
            recorded_json(self.recorded),
            now + self.lease_seconds,
            self.principal,
            self.key,
            self.token,
        )

    def check(self, rowcount: int) -> None:
        """Raise ``ClaimLost`` unless the UPDATE found the claim (one row)."""
        if rowcount != 1:
            raise ClaimLost(
                "this Idempotency-Key's request was taken over by a retry while it ran; "
                "nothing of it was recorded here: retry to get its answer"
            )


def recorded_json(recorded: dict[str, int]) -> str:
    """``{"recorded": [{"aggregate_id", "version"}]}``: each aggregate's last version."""
    return json.dumps(
        {"recorded": [{"aggregate_id": ident, "version": v} for ident, v in recorded.items()]}
    )
