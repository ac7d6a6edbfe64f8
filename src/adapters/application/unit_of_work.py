"""One client request's work on the ledger, passed to each command and query as an argument.

The HTTP routes check an aggregate (site, If-Match), change it and answer from it: with one
``UnitOfWork`` those three see one load of it, and an If-Match version is checked against the
aggregate the command changes. The Idempotency-Key middleware needs every commit of the request
to mark the key's claim in its own transaction (``adapters.persistence.claim_fence``) and needs
to know afterwards whether anything was committed. Carried explicitly (no context variable), so
what a command depends on is in its signature; the CLI and scripts pass a fresh one, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from adapters.persistence.claim_fence import KWARG as CLAIM
from adapters.persistence.claim_fence import ClaimFence


@dataclass
class UnitOfWork:
    """Expected versions, loaded aggregates, the claim fence and the commits of one request."""

    # Versions the client expects the aggregates it changes to have (If-Match), by id.
    expected: dict[UUID, int] = field(default_factory=dict)
    # Aggregates loaded so far, by id: a later load gets the same object, with what the
    # commands did to it.
    loaded: dict[UUID, Aggregate] = field(default_factory=dict)
    # Those of them that are the aggregate cache's own (read by a query, or saved): not to be
    # changed, so a command's load takes a copy in their place.
    shared: set[UUID] = field(default_factory=set)
    # The Idempotency-Key claim each commit checks and marks in its transaction (None: no key).
    fence: ClaimFence | None = None
    # Events saved per commit, one entry a commit.
    commits: list[int] = field(default_factory=list)
    # The log position of each commit's last event (HTTP answers it as X-Position).
    positions: list[int] = field(default_factory=list)

    def expect_version(self, aggregate_id: UUID, version: int) -> None:
        """Refuse (VersionMismatch) to change the aggregate unless it is still at ``version``."""
        self.expected[aggregate_id] = version

    def save_kwargs(self) -> dict[str, Any]:
        """What the recorder is given with each commit (the claim fence, if any)."""
        return {} if self.fence is None else {CLAIM: self.fence}

    @property
    def committed(self) -> bool:
        """True once any commit of this unit of work saved events."""
        return sum(self.commits) > 0
